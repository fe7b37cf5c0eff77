"""The main window: landscape in the centre, settings on the right, metric curves below.

Frames are acknowledged to the worker only after the landscape has repainted (napari's
frame dropping): the worker never sends a frame the screen has not caught up with.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..core.config import Config, ConfigError
from ..core.trainer import Snapshot
from .actions import make_action
from .app import APP_NAME, configure_runtime
from .compare import CompareWindow
from .controller import Controller
from .controls import ControlsPanel
from .curves import CurvesPanel
from .data_panel import DataPanel
from .export import ExportDialog, ExportError, Recorder, export_figure, has_mp4, write_failure
from .landscape import LandscapeView

MAX_RECENT = 8
ACK_FALLBACK_MS = 150  # acknowledge even without a repaint (window hidden or minimised)
STATE_TEXT = {
    "starting": "starting",
    "paused": "paused",
    "playing": "training",
    "sampling": "sampling (model frozen)",
    "training": "training N steps",
    "stopped": "stopped",
}


class Banner(QFrame):
    """A dismissible message above the landscape (divergence, errors): never modal."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet(
            "#banner { background: #5c1d1d; border: 1px solid #a33; border-radius: 3px; }"
            "QLabel { color: #ffdede; }"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MainWindow(QMainWindow):
    """EBM Studio's window. ``settings`` persists geometry and the last config."""

    def __init__(
        self,
        config: Config | None = None,
        points: np.ndarray | None = None,
        *,
        settings: QSettings | None = None,
        title: str = "",
        torch_threads: int | None = None,
    ) -> None:
        super().__init__()
        configure_runtime()
        config = config or Config()
        self.settings = settings
        self.controller = Controller(config, points, torch_threads=torch_threads, parent=self)
        # Per drawn frame: wall time from arrival to repainted, and the GUI thread's own CPU
        # time in that span (the difference is waiting: for the GIL, for a core).
        self.frame_times_ms: deque[float] = deque(maxlen=5000)
        self.frame_cpu_ms: deque[float] = deque(maxlen=5000)
        self.frames_drawn = 0
        self.last_snapshot: Snapshot | None = None
        self._frame_t0: float | None = None
        self._frame_cpu0 = 0.0
        self._frame_stamps: deque[float] = deque(maxlen=240)
        # The run's metric rows as they arrived with the snapshots (Export metrics CSV); a
        # new run (reset, opened checkpoint) starts over and resends its whole history.
        self.history: list[dict[str, float]] = []
        self.recorder = Recorder()
        self._recent: list[str] = []
        self._torch_threads = torch_threads
        self.compare_window: CompareWindow | None = None
        self.setWindowTitle(f"{APP_NAME} — {title}" if title else APP_NAME)
        self.resize(1500, 950)

        self.landscape = LandscapeView(config.view)
        self.banner = Banner()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.banner)
        layout.addWidget(self.landscape, 1)
        self.setCentralWidget(central)

        self.data_panel = DataPanel(self.controller, self.landscape)
        self.controls = ControlsPanel(self.controller)
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
        self.resizeDocks([self.curves_dock], [300], Qt.Orientation.Vertical)
        self.resizeDocks([self.settings_dock], [430], Qt.Orientation.Horizontal)

        self._build_toolbar()
        self._build_status_bar()
        self._build_menus()
        self._add_health_dock()

        self._ack_timer = QTimer(self)
        self._ack_timer.setSingleShot(True)
        self._ack_timer.setInterval(ACK_FALLBACK_MS)
        self._ack_timer.timeout.connect(self._on_ack_fallback)

        c = self.controller
        c.snapshot_ready.connect(self._on_snapshot_ready)
        c.state_changed.connect(self._on_state_changed)
        c.run_reset.connect(self._on_run_reset)
        c.pending_changed.connect(self._on_pending_changed)
        c.message_posted.connect(self._on_message_posted)
        c.error_raised.connect(self._on_error_raised)
        c.config_changed.connect(self._on_config_changed)
        c.config_edited.connect(self._on_config_edited)
        c.sample_mode_changed.connect(self.sample_action.setChecked)
        c.checkpoint_saved.connect(self._on_checkpoint_file_used)
        c.checkpoint_loaded.connect(self._on_checkpoint_file_used)
        c.file_failed.connect(self._on_file_failed)
        self.landscape.painted.connect(self._on_landscape_painted)

        self._restore_settings()
        QTimer.singleShot(0, self.data_panel.load_icons)
        c.start()

    # ------------------------------------------------------------------ construction
    def _add_health_dock(self) -> None:
        """Chain health and buffer inspector, tabbed with the metric curves."""
        from .health import HealthPanel

        self.health = HealthPanel(self.controller)
        self.health_dock = self._dock("Chain health", "health_dock", self.health)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.health_dock)
        self.tabifyDockWidget(self.curves_dock, self.health_dock)
        self.curves_dock.raise_()
        for action in self.menuBar().actions():
            if action.text() == "&View":
                action.menu().addAction(self.health_dock.toggleViewAction())

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

    def _action(
        self,
        text: str,
        shortcut: str | None,
        slot: Callable[..., object],
        icon: QStyle.StandardPixmap | None = None,
        tip: str = "",
    ) -> QAction:
        return make_action(self, text, shortcut, slot, icon, tip)

    def _build_toolbar(self) -> None:
        sp = QStyle.StandardPixmap
        c = self.controller
        self.play_action = self._action(
            "Play", "Space", self._on_play_triggered, sp.SP_MediaPlay, "Play / pause training"
        )
        self.play_action.setCheckable(True)
        self.step_action = self._action(
            "Step", "S", c.step_once, sp.SP_MediaSkipForward, "One optimizer step"
        )
        self.reset_action = self._action(
            "Reset", "R", c.reset, sp.SP_BrowserReload, "New run with every setting shown"
        )
        self.sample_action = self._action(
            "Sample mode", "M", self._on_sample_triggered, None, "Freeze the model and sample"
        )
        self.sample_action.setCheckable(True)
        self.record_action = self._action(
            "Record",
            None,
            self._on_record_toggled,
            sp.SP_DialogYesButton,
            "Record the landscape view (chains and landscape) to GIF"
            + (" or MP4" if has_mp4() else "")
            + "; press again to stop and save",
        )
        self.record_action.setCheckable(True)

        self.train_n = QSpinBox()
        self.train_n.setRange(1, 10_000_000)
        self.train_n.setValue(500)
        self.train_n.setToolTip("number of steps for 'Train N'")
        self.train_n_action = self._action(
            "Train",
            None,
            self._on_train_n_triggered,
            sp.SP_MediaSeekForward,
            "Train exactly N steps, then pause",
        )
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.steps_per_frame = QSpinBox()
        self.steps_per_frame.setRange(0, 10_000)
        self.steps_per_frame.setSpecialValueText("max")
        self.steps_per_frame.setToolTip(
            "optimizer steps per drawn frame: 'max' trains flat out and drops frames; "
            "n > 0 shows every n-th step (slow motion)"
        )
        self.steps_per_frame.valueChanged.connect(c.set_steps_per_frame)

        bar = QToolBar("Transport")
        bar.setObjectName("transport_toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addAction(self.play_action)
        bar.addAction(self.step_action)
        bar.addAction(self.reset_action)
        bar.addSeparator()
        bar.addAction(self.train_n_action)
        bar.addWidget(self.train_n)
        bar.addWidget(QLabel(" steps "))
        bar.addWidget(self.progress)
        bar.addSeparator()
        bar.addWidget(QLabel(" steps/frame "))
        bar.addWidget(self.steps_per_frame)
        bar.addSeparator()
        bar.addAction(self.sample_action)
        bar.addSeparator()
        bar.addAction(self.record_action)
        self.addToolBar(bar)
        self.toolbar = bar

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.step_label = QLabel("step 0")
        self.speed_label = QLabel("0 steps/s")
        self.device_label = QLabel("device -")
        self.fps_label = QLabel("0 fps")
        self.state_label = QLabel("starting")
        self.pending_label = QLabel()
        self.pending_label.setStyleSheet("color: #ff9800;")
        for w in (
            self.pending_label,
            self.step_label,
            self.speed_label,
            self.device_label,
            self.fps_label,
            self.state_label,
        ):
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)

    def _build_menus(self) -> None:
        from ..core.presets import list_presets

        file_menu = self.menuBar().addMenu("&File")
        presets = file_menu.addMenu("Open &preset")
        try:
            shipped = list_presets()
        except ConfigError as e:  # a broken shipped preset must not stop the window
            shipped = []
            self.statusBar().showMessage(str(e), 10000)
        for p in shipped:
            act = presets.addAction(p.name)
            act.setToolTip(p.description)
            act.triggered.connect(lambda _=False, name=p.name: self.open_preset(name))
        if shipped:
            presets.addSeparator()
        presets.addAction("From file...", self._on_open_preset_file)
        file_menu.addAction("Save current settings as pr&eset...", self._on_save_preset)
        file_menu.addSeparator()
        file_menu.addAction("Open CSV &points...", self.data_panel.choose_csv)
        file_menu.addSeparator()
        self.open_checkpoint_action = self._action(
            "&Open checkpoint...", "Ctrl+O", self._on_open_checkpoint
        )
        self.save_checkpoint_action = self._action(
            "&Save checkpoint...", "Ctrl+S", self._on_save_checkpoint
        )
        file_menu.addAction(self.open_checkpoint_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.save_checkpoint_action)
        file_menu.addSeparator()
        self.export_menu = file_menu.addMenu("&Export")
        self.export_action = self._action("&Figure (PNG, SVG)...", "Ctrl+E", self._on_export)
        self.export_menu.addAction(self.export_action)
        self.export_menu.addAction("&Metrics CSV...", self._on_export_metrics)
        self.export_menu.addAction(self.record_action)
        file_menu.addAction("Export &metrics CSV...", self._on_export_metrics)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.copy_share_action = self._action(
            "&Copy share string",
            "Ctrl+Shift+C",
            self._on_copy_share,
            tip="Copy a text that reproduces these settings (config and seed)",
        )
        self.paste_share_action = self._action(
            "&Paste share string",
            "Ctrl+Shift+V",
            self._on_paste_share,
            tip="Start a new run with the settings of a copied share string",
        )
        edit_menu.addAction(self.copy_share_action)
        edit_menu.addAction(self.paste_share_action)
        self._load_recent()

        run_menu = self.menuBar().addMenu("&Run")
        for a in (
            self.play_action,
            self.step_action,
            self.reset_action,
            self.train_n_action,
            self.sample_action,
        ):
            run_menu.addAction(a)
        run_menu.addSeparator()
        self.compare_action = self._action(
            "&Compare...",
            "C",
            self.open_compare,
            tip="Two runs side by side on these settings, arm B with a few changed (lock-step)",
        )
        run_menu.addAction(self.compare_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.settings_dock.toggleViewAction())
        view_menu.addAction(self.curves_dock.toggleViewAction())
        view_menu.addAction(self.toolbar.toggleViewAction())

    # ------------------------------------------------------------------ frames
    def _on_snapshot_ready(self, snap: Snapshot) -> None:
        self._frame_t0 = time.perf_counter()
        self._frame_cpu0 = time.thread_time()
        self.last_snapshot = snap
        self.history.extend(snap.rows)
        self.landscape.show_snapshot(snap)
        if self.recorder.recording:
            self.recorder.capture(self.landscape)
        self.curves.add_snapshot(snap)
        self._update_status(snap)
        self._ack_timer.start()
        if self.landscape.isVisible():
            # One paint at the next turn of the event loop, not repaint(): the scene's own
            # deferred update still followed a repaint(), so every frame was painted twice
            # (measured: 17.9 against 14.2 ms a frame at 10k chains, 200x200).
            self.landscape.viewport().update()

    def _on_landscape_painted(self) -> None:
        if self._frame_t0 is None:
            return
        now = time.perf_counter()
        self.frame_times_ms.append(1000 * (now - self._frame_t0))
        self.frame_cpu_ms.append(1000 * (time.thread_time() - self._frame_cpu0))
        self._finish_frame(now)

    def _on_ack_fallback(self) -> None:
        if self._frame_t0 is not None:
            self._finish_frame(time.perf_counter())

    def _finish_frame(self, now: float) -> None:
        self._frame_t0 = None
        self._ack_timer.stop()
        self.frames_drawn += 1
        self._frame_stamps.append(now)
        self.controller.acknowledge_frame()

    def frame_rate(self) -> float:
        """Frames drawn per second over the last second."""
        if len(self._frame_stamps) < 2:
            return 0.0
        now = time.perf_counter()
        recent = [t for t in self._frame_stamps if now - t <= 1.0]
        return float(len(recent))

    def _update_status(self, snap: Snapshot) -> None:
        e = snap.extra
        if e.get("mode") == "sample":
            acc = e.get("sample_acceptance")
            acc_text = f", acceptance {acc:.2f}" if acc is not None else ""
            self.step_label.setText(
                f"step {snap.step} · sampler step {e.get('sample_steps', 0)}{acc_text}"
            )
        else:
            self.step_label.setText(f"step {snap.step}")
        self.speed_label.setText(f"{e.get('steps_per_s', 0.0):.1f} steps/s")
        self.device_label.setText(f"device {e.get('device', '-')}")
        self.fps_label.setText(f"{self.frame_rate():.0f} fps")
        progress = e.get("progress")
        if progress:
            done, total = progress
            self.progress.setFormat("%v / %m")
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    # ------------------------------------------------------------------ controller events
    def _on_state_changed(self, state: str) -> None:
        self.state_label.setText(STATE_TEXT.get(state, state))
        running = state in ("playing", "sampling")
        self.play_action.setChecked(running)
        self.play_action.setText("Pause" if running else "Play")
        sp = QStyle.StandardPixmap
        self.play_action.setIcon(
            self.style().standardIcon(sp.SP_MediaPause if running else sp.SP_MediaPlay)
        )

    def _on_run_reset(self, config: Config) -> None:
        self.curves.clear_run()
        self.history.clear()
        self.progress.setFormat("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _on_pending_changed(self, keys: list[str]) -> None:
        if keys:
            shown = ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")
            self.pending_label.setText(f"press Reset to apply: {shown}")
        else:
            self.pending_label.setText("")
        self.reset_action.setText("Reset *" if keys else "Reset")

    def _on_message_posted(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _on_error_raised(self, text: str) -> None:
        self.banner.show_message(text)
        self.statusBar().showMessage(text.splitlines()[0], 15000)

    def _on_config_changed(self, config: Config) -> None:
        self.landscape.apply_view(config.view)

    def _on_config_edited(self, key: str, config: Config) -> None:
        if key.startswith("view."):
            self.landscape.apply_view(config.view)

    # ------------------------------------------------------------------ toolbar handlers
    def _on_play_triggered(self) -> None:
        self.controller.toggle_play()

    def _on_train_n_triggered(self) -> None:
        n = self.train_n.value()
        self.progress.setFormat("%v / %m")
        self.progress.setRange(0, n)
        self.progress.setValue(0)
        self.controller.train_steps(n)

    def _on_sample_triggered(self, checked: bool) -> None:
        self.controller.set_sample_mode(checked)

    # ------------------------------------------------------------------ files
    def open_preset(self, name_or_path: str | Path) -> bool:
        from ..core.presets import load_preset

        try:
            preset = load_preset(name_or_path)
        except ConfigError as e:
            self._on_error_raised(str(e))
            return False
        self.controller.set_config(preset.config)
        self.setWindowTitle(f"{APP_NAME} — {preset.name}")
        if preset.explanation or preset.description:
            self.statusBar().showMessage(preset.explanation or preset.description, 15000)
        return True

    def save_preset(self, path: str | Path) -> bool:
        """Save the settings shown (pending edits included) as a TOML preset, atomically."""
        from ..core.presets import save_preset

        try:
            save_preset(self.controller.config, path)
        except OSError as e:
            self._on_error_raised(write_failure(path, e))
            return False
        self.statusBar().showMessage(f"Saved preset {path}", 8000)
        return True

    def _on_open_preset_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", "", "Presets (*.toml)")
        if path:
            self.open_preset(path)

    def _on_save_preset(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "", "Presets (*.toml)")
        if path:
            self.save_preset(path if path.endswith(".toml") else path + ".toml")

    def _on_open_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open checkpoint", self._last_dir(), "Checkpoints (*.safetensors)"
        )
        if path:
            self.open_checkpoint(path)

    def _on_save_checkpoint(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save checkpoint", self._last_dir(), "Checkpoints (*.safetensors)"
        )
        if path:
            if not path.endswith(".safetensors"):
                path += ".safetensors"
            self.save_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> None:
        """Replace the run with a saved one (the worker loads it between two steps); a
        refused file is reported through ``file_failed`` and the run goes on."""
        self.controller.load_checkpoint(str(path))

    def save_checkpoint(self, path: str | Path) -> None:
        self.controller.save_checkpoint(str(path))

    def _on_file_failed(self, text: str) -> None:
        self._on_error_raised(text)

    # ------------------------------------------------------------------ recent files
    def recent_files(self) -> list[str]:
        return list(self._recent)

    def _load_recent(self) -> None:
        value = self.settings.value("recent_checkpoints", []) if self.settings else []
        if isinstance(value, str):  # QSettings returns a one-item list as a plain string
            value = [value]
        self._recent = [str(v) for v in (value or [])][:MAX_RECENT]
        self._rebuild_recent_menu()

    def _on_checkpoint_file_used(self, path: str) -> None:
        path = str(Path(path).resolve())
        self._recent = [path] + [p for p in self._recent if p != path][: MAX_RECENT - 1]
        if self.settings is not None:
            self.settings.setValue("recent_checkpoints", self._recent)
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self._recent:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self.open_checkpoint(p))
        if self._recent:
            self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list", self._on_clear_recent)
        self.recent_menu.setEnabled(True)

    def _on_clear_recent(self) -> None:
        self._recent = []
        if self.settings is not None:
            self.settings.setValue("recent_checkpoints", [])
        self._rebuild_recent_menu()

    def _last_dir(self) -> str:
        return str(Path(self._recent[0]).parent) if self._recent else ""

    # ------------------------------------------------------------------ export
    def export_figure(self, target: str, path: str | Path, width: int = 1600) -> bool:
        """Write the landscape, the curves or both to PNG/SVG; a failure is one sentence in
        the banner and status bar, and nothing is left under ``path``."""
        try:
            export_figure(target, path, self.landscape, self.curves, width)
        except ExportError as e:
            self._on_error_raised(str(e))
            return False
        self.statusBar().showMessage(f"Exported {path}", 8000)
        return True

    def _on_export(self) -> None:
        dialog = ExportDialog(self, self._last_dir())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        target, path, width = dialog.choice()
        self.export_figure(target, path, width)

    def export_metrics_csv(self, path: str | Path) -> bool:
        """The run's metric history as CSV (one row per logged step), written atomically."""
        from ..core.atomic import atomic_write_text
        from ..core.history import metrics_csv

        try:
            atomic_write_text(path, metrics_csv(self.history))
        except OSError as e:
            self._on_error_raised(write_failure(path, e))
            return False
        self.statusBar().showMessage(f"Exported {len(self.history)} metric rows to {path}", 8000)
        return True

    def _on_export_metrics(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "", "CSV (*.csv)")
        if path:
            self.export_metrics_csv(path if path.endswith(".csv") else path + ".csv")

    # ------------------------------------------------------------------ recording
    def start_recording(self) -> None:
        self.recorder.start()
        if self.last_snapshot is not None:
            self.recorder.capture(self.landscape)
        self.record_action.setChecked(True)
        self.record_action.setText("Stop recording")
        self.statusBar().showMessage("Recording the landscape view...", 5000)

    def stop_recording(self) -> list[np.ndarray]:
        frames = self.recorder.stop()
        self.record_action.setChecked(False)
        self.record_action.setText("Record")
        return frames

    def save_recording(self, path: str | Path) -> bool:
        """Write the recorded frames as GIF (always) or MP4 (with the video extra)."""
        from ..core.figures import write_animation

        frames = self.recorder.frames
        if len(frames) < 2:
            self._on_error_raised("Nothing to save: the recording has fewer than two frames.")
            return False
        if Path(path).suffix.lower() == ".mp4" and not has_mp4():
            self._on_error_raised(
                "MP4 needs the video extra (pip install 'ebm-studio[video]'); save as .gif."
            )
            return False
        try:
            write_animation(frames, path, fps=self.recorder.frame_rate)
        except ValueError as e:
            self._on_error_raised(str(e))
            return False
        except OSError as e:
            self._on_error_raised(write_failure(path, e))
            return False
        self.statusBar().showMessage(f"Saved {len(frames)} frames to {path}", 8000)
        return True

    def _on_record_toggled(self, checked: bool) -> None:
        if checked:
            self.start_recording()
            return
        frames = self.stop_recording()
        if len(frames) < 2:
            self._on_error_raised("Nothing to save: the recording has fewer than two frames.")
            return
        filters = "GIF animation (*.gif)" + (";;MP4 video (*.mp4)" if has_mp4() else "")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save recording", self._last_dir(), filters
        )
        if not path:
            self.statusBar().showMessage("Recording discarded", 5000)
            return
        if not Path(path).suffix:
            path += ".mp4" if chosen.startswith("MP4") else ".gif"
        self.save_recording(path)

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
                win.overrides_applied.connect(
                    lambda text: self.settings.setValue("compare/overrides", text)
                )
            self.compare_window = win
        if self.controller.playing:
            self.controller.pause()
            self.statusBar().showMessage("Paused this run while the compare window trains", 8000)
        win.show()
        win.raise_()
        win.activateWindow()
        return win

    # ------------------------------------------------------------------ share strings
    def share_string(self) -> str:
        from ..core.share import encode

        return encode(self.controller.config)

    def _on_copy_share(self) -> None:
        text = self.share_string()
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage("Copied the share string to the clipboard", 8000)

    def paste_share_string(self, text: str) -> bool:
        """Apply a share string's settings with a new run; garbage is refused, unchanged."""
        from ..core.share import decode

        try:
            config = decode(text)
        except ConfigError as e:
            self._on_error_raised(f"Cannot paste: {str(e).rstrip('.')}.")
            return False
        self.controller.set_config(config)
        self.statusBar().showMessage("Applied the pasted share string (new run)", 8000)
        return True

    def _on_paste_share(self) -> None:
        self.paste_share_string(QGuiApplication.clipboard().text())

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
        self._ack_timer.stop()
        self.controller.shutdown()
        super().closeEvent(event)


__all__ = ["MainWindow"]
