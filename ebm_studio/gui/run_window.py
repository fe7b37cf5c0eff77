"""What every window that shows runs has: its ``Controller``, the transport toolbar, the error
banner, frame acknowledgement, and the step / speed / state labels of the status bar.

``MainWindow`` (one run) and ``CompareWindow`` (two arms in lock-step) subclass it and draw a
frame in ``show_frame``; the data flow is one way (docs/architecture.md): panel -> controller
-> worker -> frame -> ``show_frame``.
"""

from __future__ import annotations

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QWidget

from ..core.frames import Frame
from ..core.group import RunConfigs
from .app import configure_runtime
from .banner import Banner
from .controller import Controller
from .frame_ack import FrameAck
from .landscape import LandscapeView
from .transport import TransportBar

STATE_TEXT = {
    "starting": "starting",
    "paused": "paused",
    "playing": "training",
    "sampling": "sampling (model frozen)",
    "training": "training N steps",
    "stopped": "stopped",
}


class RunWindow(QMainWindow):
    """A window driving ``controller``'s runs. Subclasses build their views, call
    ``watch_view`` for each landscape, add ``status_labels`` and call ``controller.start()``."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_runtime()
        self.resize(1500, 950)
        self.controller = controller
        controller.setParent(self)
        self.closed = False
        self.last_frame: Frame | None = None
        self.banner = Banner()
        self.ack = FrameAck(self, controller.acknowledge_frame)
        self.transport = TransportBar(self, controller, arms=len(controller.overrides))
        self.addToolBar(self.transport)
        t = self.transport
        self.play_action, self.step_action, self.reset_action = (
            t.play_action,
            t.step_action,
            t.reset_action,
        )
        self.train_n, self.train_n_action, self.progress = t.train_n, t.train_n_action, t.progress
        self.step_label = QLabel("step 0")
        self.speed_label = QLabel("0 steps/s")
        self.state_label = QLabel("starting")
        controller.frame_ready.connect(self._on_frame_ready)
        controller.state_changed.connect(self._on_state_changed)
        controller.run_reset.connect(self._on_run_reset)
        controller.error_raised.connect(self.show_error)

    # ------------------------------------------------------------------ construction
    def watch_view(self, view: LandscapeView) -> None:
        """A frame is acknowledged once every watched view has painted it."""
        self.ack.watch(view)

    def status_labels(self, labels: list[QLabel]) -> None:
        for w in labels:
            w.setContentsMargins(6, 0, 6, 0)
            self.statusBar().addPermanentWidget(w)

    # ------------------------------------------------------------------ frames
    @property
    def frames_drawn(self) -> int:
        return self.ack.frames_drawn

    @property
    def frame_times_ms(self):
        return self.ack.frame_times_ms

    @property
    def frame_cpu_ms(self):
        return self.ack.frame_cpu_ms

    def frame_rate(self) -> float:
        """Frames drawn per second over the last second."""
        return self.ack.frame_rate()

    def _on_frame_ready(self, frame: Frame) -> None:
        self.ack.arrived()
        self.last_frame = frame
        self.show_frame(frame)
        self._show_progress(frame)
        self.ack.drawn()

    def show_frame(self, frame: Frame) -> None:
        """Draw ``frame`` into the views (subclasses)."""
        raise NotImplementedError

    def _show_progress(self, frame: Frame) -> None:
        info = frame.info
        first = frame.arms[0]
        text = f"step {frame.step}"
        if first.sample is not None:
            s = first.sample
            acc = f", acceptance {s.acceptance:.2f}" if s.acceptance is not None else ""
            text += f" · sampler step {s.steps}{acc}"
        if info is not None and not info.in_step:
            text += " (out of step)"
        self.step_label.setText(text)
        speed = 0.0 if info is None else info.steps_per_s
        per_arm = " per arm" if len(frame.arms) > 1 else ""
        self.speed_label.setText(f"{speed:.1f} steps/s{per_arm}")
        if info is not None:
            self.transport.show_progress(info.progress)

    # ------------------------------------------------------------------ controller events
    def _on_state_changed(self, state: str) -> None:
        self.state_label.setText(STATE_TEXT.get(state, state))
        self.transport.show_state(state)

    def _on_run_reset(self, configs: RunConfigs) -> None:
        self.banner.hide()
        self.transport.clear_progress()

    def show_error(self, text: str) -> None:
        self.banner.show_message(text)
        self.statusBar().showMessage(text.splitlines()[0], 15000)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        self.ack.stop()
        self.controller.shutdown()
        self.closed = True
        super().closeEvent(event)


__all__ = ["RunWindow", "STATE_TEXT"]
