"""Compare mode's window: two runs side by side on the same data and seed, stepped in lock-step,
their metric curves overlaid.

Arm A is the main window's settings when the window opened (or when "Use main settings" is
pressed); arm B is A with the overrides typed in the toolbar (``objective.name=nce, ...``).
``open_checkpoints`` (the toolbar's Open checkpoints, the sweep window's Compare selected)
makes the arms continue two saved runs instead (``core/arm_checkpoints.py``). An
override that is malformed, unknown or out of range is reported in one sentence and nothing
changes; a valid one starts a new pair. The window's ``Controller`` owns a ``RunWorker`` of two
arms: training never runs in the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..core.compare import ARMS, arm_b_config
from ..core.config import Config, ConfigError
from ..core.frames import Frame, Snapshot
from ..core.group import RunConfigs, describe_differences
from .actions import make_action
from .app import APP_NAME
from .compare_curves import ARM_COLOURS, CompareCurves
from .controller import Controller
from .landscape import LandscapeView
from .plotting import BACKGROUND
from .publication import publication_dialog
from .run_window import RunWindow

ARM_B = 1


def suggested_overrides(config: Config) -> str:
    """A first comparison worth watching: the other family of objective."""
    return "objective.name=mcmc" if config.objective.name != "mcmc" else "objective.name=nce"


class ArmView(QWidget):
    """One arm: a title naming its differing settings, its latest metrics, its landscape."""

    def __init__(self, arm: str, colour: str, config: Config, parent=None) -> None:
        super().__init__(parent)
        self.arm, self.colour = arm, colour
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.stats = QLabel()
        self.stats.setStyleSheet("color: #cccccc;")
        self.stats.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.landscape = LandscapeView(config.view)
        header = QFrame()
        header.setObjectName("arm_header")
        # The plots' dark background, so the arm colours read the same as in the curves.
        header.setStyleSheet(f"#arm_header {{ background: {BACKGROUND}; }}")
        head = QHBoxLayout(header)
        head.setContentsMargins(8, 4, 8, 4)
        head.addWidget(self.title, 1)
        head.addWidget(self.stats)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(self.landscape, 1)
        self.latest: dict[str, float] = {}

    def set_title(self, text: str) -> None:
        self.title.setText(
            f"<span style='color:{self.colour}; font-weight:bold'>{self.arm}</span>"
            f"<span style='color:#dddddd'>&nbsp;&nbsp;{text}</span>"
        )
        self.title.setToolTip(f"arm {self.arm}: {text}")

    def show_snapshot(self, snap: Snapshot) -> None:
        self.landscape.show_snapshot(snap)
        for row in snap.rows:
            self.latest.update({k: v for k, v in row.items() if np.isfinite(v)})
        parts = [f"step {snap.step}"]
        for key, name in (("kl", "KL"), ("nll", "NLL"), ("log_z_error", "|ΔlogZ|")):
            if key in self.latest:
                parts.append(f"{name} {self.latest[key]:.3f}")
        self.stats.setText(" · ".join(parts))

    def clear_run(self, config: Config) -> None:
        self.latest.clear()
        self.stats.setText("step 0")
        self.landscape.apply_view(config.view)


class CompareWindow(RunWindow):
    """Two runs side by side; Play/Step/Reset drive both in lock-step."""

    overrides_applied = Signal(str)  # arm B's accepted overrides (the main window saves them)

    def __init__(
        self,
        config: Config,
        points: np.ndarray | None = None,
        *,
        overrides: str | None = None,
        arm_a_source: Callable[[], tuple[Config, np.ndarray | None]] | None = None,
        torch_threads: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        if overrides is not None:
            try:  # a remembered override may no longer fit (another preset, a removed key)
                arm_b_config(config, overrides)
            except ConfigError:
                overrides = None
        overrides = suggested_overrides(config) if overrides is None else overrides
        controller = Controller(
            config, points, ((), overrides), health=False, torch_threads=torch_threads
        )
        super().__init__(controller, parent)
        self.setWindowTitle(f"{APP_NAME} — compare")
        self._arm_a_source = arm_a_source

        self.views = [ArmView(arm, c, config) for arm, c in zip(ARMS, ARM_COLOURS)]
        arms = QWidget()
        arms_layout = QHBoxLayout(arms)
        arms_layout.setContentsMargins(2, 2, 2, 2)
        for view in self.views:
            arms_layout.addWidget(view, 1)
            self.watch_view(view.landscape)
        self.curves = CompareCurves(ARMS)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(arms)
        split.addWidget(self.curves)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)
        self.setCentralWidget(central)
        self._add_overrides_bar()
        self.status_labels([self.step_label, self.speed_label, self.state_label])
        self._set_titles(describe_differences(config, arm_b_config(config, overrides)))
        bar = self.statusBar()
        controller.message_posted.connect(lambda text: bar.showMessage(text, 10000))
        controller.file_failed.connect(lambda text: bar.showMessage(text, 15000))
        controller.start()

    # ------------------------------------------------------------------ construction
    def _add_overrides_bar(self) -> None:
        c = self.controller
        self.overrides_edit = QLineEdit(c.overrides_text(ARM_B))
        self.overrides_edit.setPlaceholderText("identical to A (e.g. objective.name=nce)")
        self.overrides_edit.setToolTip(
            "Arm B = arm A with these settings, as section.key=value separated by commas "
            "(e.g. objective.name=nce, objective.nu=4). The data and the seed are shared. "
            "Enter starts a new pair."
        )
        self.overrides_edit.setMinimumWidth(360)
        self.overrides_edit.returnPressed.connect(self.apply_overrides)
        self.apply_action = make_action(
            self, "Apply", None, self.apply_overrides, tip="Start a new pair with arm B's settings"
        )
        self.use_main_action = make_action(
            self,
            "Use main settings",
            None,
            self._on_use_main_triggered,
            tip="Arm A takes the main window's current settings (a new pair)",
        )
        self.use_main_action.setEnabled(self._arm_a_source is not None)
        bar = self.transport
        bar.addSeparator()
        bar.addWidget(QLabel(f" <b style='color:{ARM_COLOURS[ARM_B]}'>B</b> = A with "))
        bar.addWidget(self.overrides_edit)
        bar.addAction(self.apply_action)
        bar.addSeparator()
        bar.addAction(self.use_main_action)
        self.open_arms_action = make_action(
            self,
            "Open checkpoints",
            None,
            self.open_checkpoints_dialog,
            tip="Arm A and arm B continue two saved runs on the same data and seed",
        )
        bar.addAction(self.open_arms_action)
        self.publication_action = make_action(
            self,
            "Export figure",
            "Ctrl+Shift+E",
            lambda: publication_dialog(self),
            tip="Both arms side by side on one colour scale, curves overlaid (PDF, SVG, PNG)",
        )
        bar.addSeparator()
        bar.addAction(self.publication_action)
        self.toolbar = bar

    # ------------------------------------------------------------------ settings
    def apply_overrides(self) -> bool:
        """Arm B's overrides from the line edit: a new pair, or one sentence and no change."""
        ok = self.controller.set_overrides(ARM_B, self.overrides_edit.text())
        if ok:
            self.overrides_applied.emit(self.controller.overrides_text(ARM_B))
        return ok

    def open_checkpoints(self, path_a: str | Path, path_b: str | Path) -> None:
        """Arm A continues the checkpoint at ``path_a`` and arm B the one at ``path_b`` (weights,
        optimizer, chains, settings, history), in lock-step from there. They must share the
        data and the seed; otherwise one sentence in the status bar and the pair goes on."""
        self.controller.load_checkpoints((path_a, path_b))

    def open_checkpoints_dialog(self) -> None:
        paths = []
        for arm in ARMS:
            path, _ = QFileDialog.getOpenFileName(
                self, f"Arm {arm}: open a checkpoint", "", "EBM Studio checkpoints (*.safetensors)"
            )
            if not path:
                return
            paths.append(path)
        self.open_checkpoints(*paths)

    def _on_use_main_triggered(self) -> None:
        if self._arm_a_source is not None:
            self.controller.set_config(*self._arm_a_source())

    def _set_titles(self, titles: tuple[str, ...]) -> None:
        """Each arm's settings where the arms differ: its view's title and its legend entry."""
        for view, text in zip(self.views, titles):
            view.set_title(text)
        self.curves.set_legend(titles)

    # ------------------------------------------------------------------ frames
    def show_frame(self, frame: Frame) -> None:
        for view, snap in zip(self.views, frame.arms):
            view.show_snapshot(snap)
        self.curves.add_frame(frame)

    def _on_run_reset(self, configs: RunConfigs) -> None:
        super()._on_run_reset(configs)
        self.overrides_edit.setText(self.controller.overrides_text(ARM_B))
        self._set_titles(configs.titles)
        self.curves.clear_run()
        for view, cfg in zip(self.views, configs.arms):
            view.clear_run(cfg)

    def error_text(self) -> str:
        return self.banner.text()


__all__ = ["CompareWindow", "suggested_overrides"]
