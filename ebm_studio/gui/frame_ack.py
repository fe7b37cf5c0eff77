"""Frame acknowledgement: a frame is acknowledged to the worker only after every view that shows
it has repainted, so the worker never sends a frame the screen has not caught up with (frames
are dropped in the worker, never queued in the GUI). A window that cannot paint (hidden,
minimised) acknowledges after ``ACK_FALLBACK_MS``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from .landscape import LandscapeView

ACK_FALLBACK_MS = 150
FRAME_TIMES_KEPT = 5000


class FrameAck(QObject):
    """Acknowledges frames after their paint and measures what each frame cost the GUI."""

    def __init__(self, window: QWidget, acknowledge: Callable[[], None]) -> None:
        super().__init__(window)
        self._window = window
        self._acknowledge = acknowledge
        self._views: list[LandscapeView] = []
        self._unpainted: set[int] = set()
        self._t0: float | None = None
        self._cpu0 = 0.0
        self._stamps: deque[float] = deque(maxlen=240)
        self.frames_drawn = 0
        # Per drawn frame: wall time from arrival to painted, and the GUI thread's own CPU
        # time in that span (the difference is waiting: for the GIL, for a core).
        self.frame_times_ms: deque[float] = deque(maxlen=FRAME_TIMES_KEPT)
        self.frame_cpu_ms: deque[float] = deque(maxlen=FRAME_TIMES_KEPT)
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.setInterval(ACK_FALLBACK_MS)
        self._fallback.timeout.connect(self._on_fallback_due)

    def watch(self, view: LandscapeView) -> None:
        """A view whose paint a frame waits for."""
        i = len(self._views)
        self._views.append(view)
        view.painted.connect(lambda: self._on_view_painted(i))

    def arrived(self) -> None:
        """A frame arrived (call before drawing it)."""
        self._t0 = time.perf_counter()
        self._cpu0 = time.thread_time()

    def drawn(self) -> None:
        """The frame is drawn into the views; acknowledge it once each visible view painted.

        The new frame changed each view's scene, so each paints once at the next turn of the
        event loop (a synchronous repaint() here was followed by the scene's own deferred
        update: two paints a frame)."""
        self._fallback.start()
        if self._window.isMinimized():
            self._unpainted = set()
            return
        self._unpainted = {i for i, v in enumerate(self._views) if v.isVisible()}

    def _on_view_painted(self, i: int) -> None:
        if self._t0 is None or i not in self._unpainted:
            return
        self._unpainted.discard(i)
        if not self._unpainted:
            now = time.perf_counter()
            self.frame_times_ms.append(1000 * (now - self._t0))
            self.frame_cpu_ms.append(1000 * (time.thread_time() - self._cpu0))
            self._finish(now)

    def _on_fallback_due(self) -> None:
        if self._t0 is not None:
            self._finish(time.perf_counter())

    def _finish(self, now: float) -> None:
        self._t0 = None
        self._unpainted = set()
        self._fallback.stop()
        self.frames_drawn += 1
        self._stamps.append(now)
        self._acknowledge()

    def frame_rate(self) -> float:
        """Frames drawn per second over the last second."""
        if len(self._stamps) < 2:
            return 0.0
        now = time.perf_counter()
        return float(sum(1 for t in self._stamps if now - t <= 1.0))

    def stop(self) -> None:
        self._fallback.stop()


__all__ = ["FrameAck", "ACK_FALLBACK_MS"]
