"""The main window: landscape in the centre, settings on the right, metric curves and chain
health below. One run; the transport, banner and frame acknowledgement are ``RunWindow``'s,
the menus ``menus.py``'s, the files ``window_files.py``'s and the recording ``recording.py``'s.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QStyle, QVBoxLayout, QWidget

from ..core.config import Config
from ..core.frames import Frame, Snapshot
from ..core.group import RunConfigs
from ..core.history import History
from .actions import make_action
from .app import APP_NAME
from .compare import CompareWindow
from .compose_dialog import install_compose
from .controller import Controller
from .controls import ControlsPanel
from .curves import CurvesPanel
from .data_panel import DataPanel
from .desktop import DesktopActions
from .export import Recorder, has_mp4
from .guide import install_guide
from .health import HealthPanel
from .help_menu import HelpActions, build_help_menu
from .image_mode import ImageMode
from .landscape import LandscapeView
from .menus import build_menus
from .recording import RecordingActions
from .run_window import RunWindow
from .window_files import FileActions


class MainWindow(DesktopActions, HelpActions, FileActions, RecordingActions, RunWindow):
    """EBM Studio's window. ``settings`` persists geometry, the last config, the recent
    checkpoints and compare mode's overrides."""

    def __init__(
        self,
        config: Config | None = None,
        points: np.ndarray | None = None,
        *,
        settings: QSettings | None = None,
        title: str = "",
        torch_threads: int | None = None,
    ) -> None:
        config = config or Config()
        super().__init__(Controller(config, points, torch_threads=torch_threads))
        self.settings = settings
        self._torch_threads = torch_threads
        self.last_snapshot: Snapshot | None = None
        self.recorder = Recorder()
        self.compare_window: CompareWindow | None = None
        self.setWindowTitle(f"{APP_NAME} — {title}" if title else APP_NAME)

        self.landscape = LandscapeView(config.view)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.banner)
        self.image_mode = ImageMode(self, self.landscape)
        layout.addWidget(self.image_mode.stack, 1)
        self.setCentralWidget(central)
        self.watch_view(self.landscape)
        self.watch_view(self.image_mode.view)

        c = self.controller
        self.data_panel = DataPanel(c, self.landscape)
        self.controls = ControlsPanel(c)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(2, 2, 2, 2)
        side_layout.addWidget(self.data_panel)
        side_layout.addWidget(self.controls, 1)
        self.settings_dock = self._dock("Settings", "settings_dock", side)
        self.settings_dock.setMinimumWidth(400)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.settings_dock)
        self.curves = CurvesPanel()
        self.curves_dock = self._dock("Metrics", "curves_dock", self.curves)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.curves_dock)
        self.health = HealthPanel(c)
        self.health_dock = self._dock("Chain health", "health_dock", self.health)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.health_dock)
        self.tabifyDockWidget(self.curves_dock, self.health_dock)
        self.curves_dock.raise_()
        self.resizeDocks([self.curves_dock], [300], Qt.Orientation.Vertical)
        self.resizeDocks([self.settings_dock], [430], Qt.Orientation.Horizontal)

        self._add_toolbar_actions()
        self.image_mode.sync(config)
        self.pending_label = QLabel()
        self.pending_label.setStyleSheet("color: #ff9800;")
        self.device_label = QLabel("device -")
        self.fps_label = QLabel("0 fps")
        self.status_labels(
            [
                self.pending_label,
                self.step_label,
                self.speed_label,
                self.device_label,
                self.fps_label,
                self.state_label,
            ]
        )
        build_menus(self)
        build_help_menu(self)
        self.setup_desktop()
        install_guide(self)  # after the menus: it adds to View and Help
        install_compose(self)  # File > Compose...

        c.pending_changed.connect(self._on_pending_changed)
        c.message_posted.connect(self._on_message_posted)
        c.config_changed.connect(self._on_config_changed)
        c.config_edited.connect(self._on_config_edited)
        c.sample_mode_changed.connect(self.sample_action.setChecked)
        c.checkpoint_saved.connect(self.recent.add)
        c.checkpoint_loaded.connect(self.recent.add)
        c.file_failed.connect(self.show_error)

        self._restore_settings()
        QTimer.singleShot(0, self.data_panel.load_icons)
        c.start()

    @property
    def history(self) -> History:
        """The run's metric rows as they arrived with the frames (Export metrics CSV): the
        curves' columns, one copy. A new run (reset, opened checkpoint) starts over and its
        worker resends the whole history."""
        return self.curves.data.history

    # ------------------------------------------------------------------ construction
    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        return dock

    def _add_toolbar_actions(self) -> None:
        self.sample_action = make_action(
            self,
            "Sample mode",
            "M",
            self.controller.set_sample_mode,
            None,
            "Freeze the model and sample",
        )
        self.sample_action.setCheckable(True)
        self.record_action = make_action(
            self,
            "Record",
            None,
            self.toggle_recording,
            QStyle.StandardPixmap.SP_DialogYesButton,
            "Record the landscape view (chains and landscape) to GIF"
            + (" or MP4" if has_mp4() else "")
            + "; press again to stop and save",
        )
        self.record_action.setCheckable(True)
        self.toolbar = self.transport
        self.transport.addSeparator()
        self.transport.addAction(self.sample_action)
        self.transport.addSeparator()
        self.transport.addAction(self.record_action)

    # ------------------------------------------------------------------ frames
    def show_frame(self, frame: Frame) -> None:
        snap = frame.arms[0]
        self.last_snapshot = snap
        if not self.image_mode.show_snapshot(snap):
            self.landscape.show_snapshot(snap)
        if self.recorder.recording:
            self.recorder.capture(self.landscape)
        self.curves.add_snapshot(snap)
        self.device_label.setText(f"device {snap.device or '-'}")
        self.fps_label.setText(f"{self.frame_rate():.0f} fps")

    # ------------------------------------------------------------------ controller events
    def _on_run_reset(self, configs: RunConfigs) -> None:
        super()._on_run_reset(configs)
        self.curves.clear_run()
        self.image_mode.view.clear_run()

    def _on_pending_changed(self, keys: list[str]) -> None:
        if keys:
            shown = ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")
            self.pending_label.setText(f"press Reset to apply: {shown}")
        else:
            self.pending_label.setText("")
        self.reset_action.setText("Reset *" if keys else "Reset")

    def _on_message_posted(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _on_config_changed(self, config: Config) -> None:
        self.landscape.apply_view(config.view)
        self.image_mode.sync(config)

    def _on_config_edited(self, key: str, config: Config) -> None:
        if key.startswith("view."):
            self.landscape.apply_view(config.view)

    # ------------------------------------------------------------------ compare mode
    def open_compare(self) -> CompareWindow:
        """Open (or raise) the compare window; arm A starts from the settings shown here.

        The main run pauses: two training threads on a two-core machine would halve both."""
        win = self.compare_window
        if win is None or win.closed:
            if win is not None:
                win.deleteLater()
            saved = None if self.settings is None else self.settings.value("compare/overrides")
            win = CompareWindow(
                self.controller.config,
                self.controller.points,
                overrides=saved if isinstance(saved, str) else None,
                arm_a_source=lambda: (self.controller.config, self.controller.points),
                torch_threads=self._torch_threads,
                parent=self,
            )
            if self.settings is not None:
                win.overrides_applied.connect(self._on_compare_overrides_applied)
            self.compare_window = win
        if self.controller.playing:
            self.controller.pause()
            self.statusBar().showMessage("Paused this run while the compare window trains", 8000)
        win.show()
        win.raise_()
        win.activateWindow()
        return win

    def _on_compare_overrides_applied(self, text: str) -> None:
        if self.settings is not None:
            self.settings.setValue("compare/overrides", text)

    # ------------------------------------------------------------------ persistence
    def _restore_settings(self) -> None:
        s = self.settings
        if s is None:
            return
        geometry, state = s.value("geometry"), s.value("windowState")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_settings(self) -> None:
        from ..core.presets import config_to_toml

        s = self.settings
        if s is None:
            return
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("last_config", config_to_toml(self.controller.config))
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self.save_settings()
        if self.compare_window is not None:
            self.compare_window.close()  # stops its thread
        super().closeEvent(event)


__all__ = ["MainWindow"]
