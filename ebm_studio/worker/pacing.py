"""When the worker may emit a frame, and when a frame carries a new heatmap grid.

A frame leaves at most ``view.fps`` times a second and only after the GUI acknowledged the
previous one, so a slow GUI drops frames instead of queueing them; metric rows accumulate in the
trainers until the next frame, so no curve point is lost. In slow motion (``steps_per_frame`` =
n > 0) a frame shows exactly n steps and the worker waits for it. The heatmap grid (about 30 ms
at 200x200 on the worker's one torch thread on a 2-core machine) is refreshed a few times a
second, not every frame. No Qt: the GUI thread touches only ``acked`` (a threading.Event).
"""

from __future__ import annotations

import threading

IDLE_WAIT_S = 0.5


class FramePacer:
    """The worker's frame clock. Everything but ``acked`` belongs to the worker thread."""

    def __init__(self, grid_interval: float = 0.25) -> None:
        self.grid_interval = grid_interval
        self.acked = threading.Event()  # set by the GUI thread when it has drawn a frame
        self.acked.set()
        self.steps_per_frame = 0
        self.steps_since_frame = 0
        self.dirty = True  # something changed since the last frame
        self.need_grid = True  # the next frame must carry a heatmap grid
        self.send_static = True  # the next frame must carry the static layers (a new run)
        self.last_emit = -1e9
        self.last_grid = -1e9
        self._rate = 0.0
        self._rate_mark = (0.0, 0)

    # ------------------------------------------------------------------ work
    def may_work(self) -> bool:
        """Slow motion: after n steps, wait until that frame has gone out."""
        spf = self.steps_per_frame
        return not (spf > 0 and self.steps_since_frame >= spf)

    def worked(self) -> None:
        self.steps_since_frame += 1
        self.dirty = True

    def new_run(self, now: float, step: int) -> None:
        """A new run (or the same run moved): a whole frame with grid and static layers."""
        self._rate_mark = (now, step)
        self.need_grid = self.dirty = self.send_static = True

    # ------------------------------------------------------------------ frames
    def interval(self, fps: int) -> float:
        return 1.0 / max(fps, 1)

    def due(self, now: float, fps: int, busy: bool) -> bool:
        """Whether a frame may leave now."""
        if not self.dirty or not self.acked.is_set():
            return False
        if now - self.last_emit < self.interval(fps):
            return False
        spf = self.steps_per_frame
        return not (spf > 0 and busy and 0 < self.steps_since_frame < spf)

    def grid_due(self, now: float, sampling: bool) -> bool:
        """A grid when asked for, or every ``grid_interval`` while training (in sample mode
        the model is frozen: its grid changes only when asked for)."""
        return self.need_grid or (not sampling and now - self.last_grid >= self.grid_interval)

    def emitted(self, now: float, grid: bool) -> None:
        self.acked.clear()
        self.dirty = self.send_static = False
        self.last_emit = now
        self.steps_since_frame = 0
        if grid:
            self.need_grid = False
            self.last_grid = now

    def idle_timeout(self, fps: int, now: float) -> float:
        """How long the idle loop may sleep: until the next frame is due, when one waits."""
        if self.dirty and self.acked.is_set():
            wait = self.last_emit + self.interval(fps) - now
            return min(max(wait, 0.001), IDLE_WAIT_S)
        return IDLE_WAIT_S

    def steps_per_s(self, now: float, step: int, busy: bool) -> float:
        """Steps per second over the last half second or more; 0 while idle."""
        t0, s0 = self._rate_mark
        if now - t0 >= 0.5:
            self._rate = (step - s0) / (now - t0) if step >= s0 else 0.0
            self._rate_mark = (now, step)
        return self._rate if busy else 0.0


__all__ = ["FramePacer"]
