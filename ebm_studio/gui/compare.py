"""Compare mode's window: two runs side by side on the same data and seed, stepped in lock-step,
their metric curves overlaid.

Arm A is the main window's settings when the window opened (or when "Use main settings" is
pressed); arm B is A with the overrides typed in the toolbar (``objective.name=nce, ...``). An
override that is malformed, unknown or out of range is reported in one sentence and nothing
changes; a valid one starts a new pair. The window owns a ``CompareController``, which owns the
``CompareThread``: training never runs in the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSpinBox,
    QSplitter,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..core.compare import ARMS, CompareFrame, arm_b_config, describe_differences
from ..core.config import Config, ConfigError
from ..core.overrides import format_assignments, parse_assignments
from ..worker.commands import Command, ResetCompare
from ..worker.compare_thread import CompareThread
from .actions import Transport, make_action
from .app import APP_NAME, configure_runtime
from .curves import CURVE_WIDTH, REDRAW_HZ, FollowRanges, _Series, merge_bounds
from .landscape import LandscapeView, cache_axes

ARM_COLOURS = ("#4fc3f7", "#ffb74d")  # A light blue, B orange: distinct on the dark plots
ACK_FALLBACK_MS = 150  # acknowledge a frame even when the window is hidden or minimised
# (row key, plot title): the metrics that say which arm learned the density better.
COMPARE_PLOTS: list[tuple[str, str]] = [
    ("kl", "KL(data ‖ model) (nats)"),
    ("nll", "held-out NLL (nats)"),
    ("mmd", "MMD² chains vs data"),
    ("loss", "loss (each arm's own objective)"),
    ("log_z_error", "|learned − grid log Z|"),
    ("grad_norm", "parameter gradient norm"),
]
SPARSE = {"kl", "nll", "mmd", "log_z_error"}  # logged every train.eval_every steps


def suggested_overrides(config: Config) -> str:
    """A first comparison worth watching: the other family of objective."""
    return "objective.name=mcmc" if config.objective.name != "mcmc" else "objective.name=nce"


class CompareController(QObject, Transport):
    """Owns the ``CompareThread``; validates arm B's overrides before anything is sent."""

    frame_ready = Signal(object)  # CompareFrame
    state_changed = Signal(str)
    run_reset = Signal(object)  # (arm A Config, arm B Config) of the new pair
    error_raised = Signal(str)  # a refused override, a divergence, a failure in the worker

    def __init__(
        self,
        config: Config,
        overrides: str = "",
        points: np.ndarray | None = None,
        *,
        torch_threads: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        arm_b_config(config, overrides)  # a bad start is the caller's ConfigError
        self.config = config
        self.points = points
        self.overrides = parse_assignments(overrides)
        self.state = "starting"
        self.thread = CompareThread(config, self.overrides, points, torch_threads=torch_threads)
        self.thread.snapshot_ready.connect(self._on_snapshot_ready)
        self.thread.state_changed.connect(self._on_state_changed)
        self.thread.reset_done.connect(self._on_reset_done)
        self.thread.diverged.connect(self.error_raised)
        self.thread.failed.connect(self.error_raised)
        app = QCoreApplication.instance()
        if app is not None:  # a safety net: never let Python destroy a running QThread
            app.aboutToQuit.connect(self.shutdown)

    @property
    def overrides_text(self) -> str:
        return format_assignments(self.overrides)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.thread.start()

    def shutdown(self) -> None:
        """Stop the worker and wait for it: never destroy a running QThread."""
        if self.thread.isRunning():
            self.thread.stop_and_wait()

    def acknowledge_frame(self) -> None:
        self.thread.acknowledge_frame()

    # ------------------------------------------------------------------ transport
    @property
    def playing(self) -> bool:
        return self.state == "playing"

    def reset(self) -> None:
        """A new pair from step 0 with the current arm A and overrides."""
        self._send(ResetCompare(self.config, self.overrides, self.points))

    # ------------------------------------------------------------------ settings
    def set_overrides(self, text: str) -> bool:
        """Validate arm B's overrides; on success start a new pair with them. On failure the
        one-sentence reason goes to ``error_raised`` and nothing changes."""
        try:
            arm_b_config(self.config, text)
        except ConfigError as e:
            self.error_raised.emit(str(e))
            return False
        self.overrides = parse_assignments(text)
        self.reset()
        return True

    def set_arm_a(self, config: Config, points: np.ndarray | None = None) -> bool:
        """New settings for arm A (the main window's); arm B keeps its overrides."""
        try:
            arm_b_config(config, self.overrides)
        except ConfigError as e:
            self.error_raised.emit(str(e))
            return False
        self.config, self.points = config, points
        self.reset()
        return True

    # ------------------------------------------------------------------ worker signals
    def _send(self, command: Command) -> None:
        self.thread.send(command)

    def _on_snapshot_ready(self, frame: CompareFrame) -> None:
        self.frame_ready.emit(frame)

    def _on_state_changed(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _on_reset_done(self, configs: tuple[Config, Config]) -> None:
        self.run_reset.emit(configs)


class CompareCurves(QWidget):
    """Both arms' metric curves overlaid, one small plot per metric, with a legend above."""

    def __init__(self, parent: QWidget | None = None, columns: int = 3) -> None:
        super().__init__(parent)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setContentsMargins(6, 2, 6, 2)
        self.legend.setStyleSheet("background: #15161a;")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#15161a")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.legend)
        layout.addWidget(self.graphics, 1)
        self.series: dict[tuple[str, str], _Series] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self._notes: dict[str, pg.TextItem] = {}
        self._dirty = False
        for i, (key, title) in enumerate(COMPARE_PLOTS):
            if i and i % columns == 0:
                self.graphics.nextRow()
            plot = self.graphics.addPlot()
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.getAxis("left").setWidth(46)
            cache_axes(plot)
            plot.setTitle(f"<span style='font-size:8pt; color:#bbbbbb'>{title}</span>")
            if self.plots:
                plot.setXLink(next(iter(self.plots.values())))
            note = pg.TextItem("no data in either arm", color="#777777", anchor=(0.5, 0.5))
            plot.addItem(note, ignoreBounds=True)
            self._notes[key] = note
            self.plots[key] = plot
            for arm, colour in zip(ARMS, ARM_COLOURS):
                curve = pg.PlotDataItem(
                    pen=pg.mkPen(colour, width=CURVE_WIDTH),
                    name=arm,
                    symbol="o" if key in SPARSE else None,
                    symbolSize=4,
                    symbolBrush=colour,
                    symbolPen=None,
                )
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
                plot.addItem(curve)
                self.curves[(arm, key)] = curve
        self.ranges = FollowRanges(list(self.plots.values()))
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        self.set_legend("", "")
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(int(1000 / REDRAW_HZ))
        self._redraw_timer.timeout.connect(self._on_redraw_due)
        self._redraw_timer.start()

    def set_legend(self, title_a: str, title_b: str) -> None:
        parts = [
            f"<span style='color:{c}'>━━ <b>{arm}</b></span>"
            f"<span style='color:#cccccc'>&nbsp;{t}</span>"
            for arm, c, t in zip(ARMS, ARM_COLOURS, (title_a, title_b))
        ]
        self.legend.setText("&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;".join(parts))

    def clear_run(self) -> None:
        """A new pair: forget every point."""
        self.series.clear()
        for curve in self.curves.values():
            curve.setData([], [])
        for note in self._notes.values():
            note.setVisible(True)
        self.ranges.release()
        self._dirty = True

    def add_frame(self, frame: CompareFrame) -> None:
        """Store both arms' rows; the plots redraw on their own timer."""
        for arm, snap in zip(ARMS, (frame.a, frame.b)):
            for row in snap.rows:
                step = row.get("step")
                if step is None:
                    continue
                for key in self.plots:
                    value = row.get(key)
                    if value is None or not np.isfinite(value):
                        continue
                    s = self.series.get((arm, key))
                    if s is None:
                        s = self.series[(arm, key)] = _Series()
                    elif s.n and step <= s.x[s.n - 1]:
                        s.truncate_from(step)  # a rollback undid these steps
                    s.append(step, value)
                    self._dirty = True

    def _on_redraw_due(self) -> None:
        if self._dirty and self.isVisible():
            self.redraw()

    def redraw(self) -> None:
        for (arm, key), s in self.series.items():
            self.curves[(arm, key)].setData(*s.data())
            self._notes[key].setVisible(False)
        self.ranges.update(
            [
                merge_bounds([s for (_, k), s in self.series.items() if k == key])
                for key in self.plots
            ]
        )
        for key, note in self._notes.items():
            if note.isVisible():
                (x0, x1), (y0, y1) = self.plots[key].getViewBox().viewRange()
                note.setPos((x0 + x1) / 2, (y0 + y1) / 2)
        self._dirty = False

    def _on_click(self, event) -> None:
        """A double-click anywhere in the plots: every plot follows its data again."""
        if event.double():
            self.ranges.release()
            self.redraw()


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
        header.setStyleSheet("#arm_header { background: #15161a; }")
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

    def show_snapshot(self, snap) -> None:
        self.landscape.show_snapshot(snap)
        for row in snap.rows:
            self.latest.update({k: v for k, v in row.items() if np.isfinite(v)})
        parts = [f"step {snap.step}"]
        for key, name in (("kl", "KL"), ("nll", "NLL"), ("log_z_error", "|ΔlogZ|")):
            if key in self.latest:
                parts.append(f"{name} {self.latest[key]:.3f}")
        self.stats.setText(" · ".join(parts))

    def clear_run(self) -> None:
        self.latest.clear()
        self.stats.setText("step 0")


class CompareWindow(QMainWindow):
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
        super().__init__(parent)
        configure_runtime()
        self.setWindowTitle(f"{APP_NAME} — compare")
        self.resize(1500, 950)
        if overrides is not None:
            try:  # a remembered override may no longer fit (another preset, a removed key)
                arm_b_config(config, overrides)
            except ConfigError:
                overrides = None
        overrides = suggested_overrides(config) if overrides is None else overrides
        self.controller = CompareController(
            config, overrides, points, torch_threads=torch_threads, parent=self
        )
        self._arm_a_source = arm_a_source
        self.last_frame: CompareFrame | None = None
        self.frames_drawn = 0
        self.closed = False

        self.views = [ArmView(arm, c, config) for arm, c in zip(ARMS, ARM_COLOURS)]
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(
            "background: #5c1d1d; border: 1px solid #a33; color: #ffdede; padding: 4px;"
        )
        self.error_label.hide()
        arms = QWidget()
        arms_layout = QHBoxLayout(arms)
        arms_layout.setContentsMargins(2, 2, 2, 2)
        for view in self.views:
            arms_layout.addWidget(view, 1)
        self.curves = CompareCurves()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(arms)
        split.addWidget(self.curves)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.error_label)
        layout.addWidget(split, 1)
        self.setCentralWidget(central)
        self._build_toolbar()
        self.step_label = QLabel("step 0")
        self.speed_label = QLabel("0 steps/s")
        self.state_label = QLabel("starting")
        for w in (self.step_label, self.speed_label, self.state_label):
            w.setContentsMargins(6, 0, 6, 0)
            self.statusBar().addPermanentWidget(w)
        self._set_titles(config, arm_b_config(config, overrides))

        self._ack_timer = QTimer(self)
        self._ack_timer.setSingleShot(True)
        self._ack_timer.setInterval(ACK_FALLBACK_MS)
        self._ack_timer.timeout.connect(self.controller.acknowledge_frame)
        self._unpainted: set[int] = set()
        for i, view in enumerate(self.views):
            view.landscape.painted.connect(lambda i=i: self._on_arm_painted(i))
        c = self.controller
        c.frame_ready.connect(self._on_frame_ready)
        c.state_changed.connect(self._on_state_changed)
        c.run_reset.connect(self._on_run_reset)
        c.error_raised.connect(self._on_error_raised)
        c.start()

    # ------------------------------------------------------------------ construction
    def _action(self, text: str, shortcut: str | None, slot, icon=None, tip: str = "") -> QAction:
        return make_action(self, text, shortcut, slot, icon, tip)

    def _build_toolbar(self) -> None:
        sp = QStyle.StandardPixmap
        c = self.controller
        self.play_action = self._action(
            "Play", "Space", c.toggle_play, sp.SP_MediaPlay, "Play / pause both arms"
        )
        self.play_action.setCheckable(True)
        self.step_action = self._action(
            "Step", "S", c.step_once, sp.SP_MediaSkipForward, "One optimizer step of each arm"
        )
        self.reset_action = self._action(
            "Reset", "R", c.reset, sp.SP_BrowserReload, "Start both arms again from step 0"
        )
        self.train_n = QSpinBox()
        self.train_n.setRange(1, 10_000_000)
        self.train_n.setValue(500)
        self.train_n.setToolTip("number of lock-step steps for 'Train'")
        self.train_n_action = self._action(
            "Train",
            None,
            lambda: c.train_steps(self.train_n.value()),
            sp.SP_MediaSeekForward,
            "Train both arms exactly N steps, then pause",
        )
        self.overrides_edit = QLineEdit(c.overrides_text)
        self.overrides_edit.setPlaceholderText("identical to A (e.g. objective.name=nce)")
        self.overrides_edit.setToolTip(
            "Arm B = arm A with these settings, as section.key=value separated by commas "
            "(e.g. objective.name=nce, objective.nu=4). The data and the seed are shared. "
            "Enter starts a new pair."
        )
        self.overrides_edit.setMinimumWidth(360)
        self.overrides_edit.returnPressed.connect(self.apply_overrides)
        self.apply_action = self._action(
            "Apply", None, self.apply_overrides, tip="Start a new pair with arm B's settings"
        )
        self.use_main_action = self._action(
            "Use main settings",
            None,
            self._on_use_main_triggered,
            tip="Arm A takes the main window's current settings (a new pair)",
        )
        self.use_main_action.setEnabled(self._arm_a_source is not None)
        bar = QToolBar("Compare")
        bar.setObjectName("compare_toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.play_action, self.step_action, self.reset_action):
            bar.addAction(a)
        bar.addSeparator()
        bar.addAction(self.train_n_action)
        bar.addWidget(self.train_n)
        bar.addSeparator()
        label = QLabel(f" <b style='color:{ARM_COLOURS[1]}'>B</b> = A with ")
        bar.addWidget(label)
        bar.addWidget(self.overrides_edit)
        bar.addAction(self.apply_action)
        bar.addSeparator()
        bar.addAction(self.use_main_action)
        self.addToolBar(bar)
        self.toolbar = bar

    # ------------------------------------------------------------------ settings
    def apply_overrides(self) -> bool:
        """Arm B's overrides from the line edit: a new pair, or one sentence and no change."""
        ok = self.controller.set_overrides(self.overrides_edit.text())
        if ok:
            self.overrides_applied.emit(self.controller.overrides_text)
        return ok

    def _on_use_main_triggered(self) -> None:
        if self._arm_a_source is not None:
            self.controller.set_arm_a(*self._arm_a_source())

    def _set_titles(self, a: Config, b: Config) -> None:
        titles = describe_differences(a, b)
        for view, text in zip(self.views, titles):
            view.set_title(text)
        self.curves.set_legend(*titles)

    # ------------------------------------------------------------------ controller events
    def _on_frame_ready(self, frame: CompareFrame) -> None:
        self.last_frame = frame
        for view, snap in zip(self.views, (frame.a, frame.b)):
            view.show_snapshot(snap)
        self.curves.add_frame(frame)
        self.step_label.setText(
            f"step {frame.step}" + ("" if frame.extra.get("in_step", True) else " (out of step)")
        )
        self.speed_label.setText(f"{frame.extra.get('steps_per_s', 0.0):.1f} steps/s per arm")
        self.frames_drawn += 1
        self._ack_timer.start()  # the fallback when a paint does not come (hidden, minimised)
        if self.isVisible() and not self.isMinimized():
            # The new frame changed both scenes, so each arm paints once at the next turn of
            # the event loop; the frame is acknowledged when both have. (A repaint() here was
            # followed by the scene's own deferred update: two paints an arm and frame; an
            # explicit update() still gave arm B a second one.)
            self._unpainted = set(range(len(self.views)))

    def _on_arm_painted(self, i: int) -> None:
        if i in self._unpainted:
            self._unpainted.discard(i)
            if not self._unpainted:
                self._ack_timer.stop()
                self.controller.acknowledge_frame()

    def _on_state_changed(self, state: str) -> None:
        self.state_label.setText(state)
        running = state == "playing"
        self.play_action.setChecked(running)
        self.play_action.setText("Pause" if running else "Play")
        sp = QStyle.StandardPixmap
        self.play_action.setIcon(
            self.style().standardIcon(sp.SP_MediaPause if running else sp.SP_MediaPlay)
        )

    def _on_run_reset(self, configs: tuple[Config, Config]) -> None:
        a, b = configs
        self.error_label.hide()
        self.overrides_edit.setText(self.controller.overrides_text)
        self._set_titles(a, b)
        self.curves.clear_run()
        for view, cfg in zip(self.views, configs):
            view.clear_run()
            view.landscape.apply_view(cfg.view)

    def _on_error_raised(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        self.statusBar().showMessage(text.splitlines()[0], 15000)

    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self._ack_timer.stop()
        self.controller.shutdown()
        self.closed = True
        super().closeEvent(event)


__all__ = ["CompareWindow", "CompareController", "CompareCurves", "suggested_overrides"]
