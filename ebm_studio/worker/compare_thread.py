"""Compare mode's thread: drives a ``CompareRun`` (two trainers in lock-step) off the GUI thread.

Same contract as the training thread (``FrameWorker``): frozen commands in through ``send``,
a ``CompareFrame`` out at most ``view.fps`` times a second and only after the GUI acknowledged
the previous one; each arm's metric rows accumulate in its trainer until the next frame, so a
dropped frame never drops a curve point. Both heatmaps are refreshed a few times a second.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Iterable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.compare import ArmDiverged, CompareFrame, CompareRun
from ..core.config import Config
from .commands import Command, ResetCompare, SetPlaying, StepOnce, Stop, TrainSteps
from .thread import (
    MAX_DRAWN_CHAINS,
    FrameWorker,
    default_torch_threads,
    static_layers,
    trails_follow_chains,
)


class CompareThread(FrameWorker):
    """Runs both arms of a comparison; one unit of work is one step of each arm."""

    snapshot_ready = Signal(object)  # CompareFrame; extra holds state, steps/s, progress
    state_changed = Signal(str)  # "paused", "playing", "training", "stopped"
    diverged = Signal(str)  # an arm rolled back; the message names the arm and the remedy
    failed = Signal(str)  # an exception in the worker or a command that could not run
    reset_done = Signal(object)  # (arm A Config, arm B Config) of the new pair

    def __init__(
        self,
        config: Config,
        overrides: Iterable[tuple[str, Any]] = (),
        points: np.ndarray | None = None,
        *,
        torch_threads: int | None = None,
        grid_interval: float = 0.25,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._initial = ResetCompare(config, tuple(overrides), points)
        self._threads = torch_threads or default_torch_threads()
        self._grid_interval = grid_interval
        # Worker-side state: touched only from run() (the worker thread).
        self.compare: CompareRun | None = None

    # ------------------------------------------------------------------ worker loop
    # (run, _iterate and the frame pacing are FrameWorker's)
    def _start(self) -> None:
        try:
            self._reset(self._initial)
        except Exception as e:  # a bad start (device, points) is reported, not fatal
            self._fail(e)

    def _can_work(self) -> bool:
        return self.compare is not None and (self._playing or self._remaining > 0)

    def _run_unit(self) -> bool:
        return self._step()

    def _fps(self) -> int:
        return self.compare.a.config.view.fps if self.compare is not None else 30

    # ------------------------------------------------------------------ commands
    def _execute(self, cmd: Command) -> None:
        if isinstance(cmd, SetPlaying):
            self._playing = cmd.playing
            self._remaining = 0
            self._need_grid = self._dirty = True
            self._set_state("playing" if cmd.playing else "paused")
        elif isinstance(cmd, StepOnce):
            if self.compare is not None:
                self._step()
                self._need_grid = True
        elif isinstance(cmd, TrainSteps):
            self._playing = False
            self._remaining = self._batch_total = max(int(cmd.n), 0)
            self._dirty = True
            self._set_state("training" if self._remaining else "paused")
        elif isinstance(cmd, ResetCompare):
            self._reset(cmd)
        elif isinstance(cmd, Stop):
            self._stop.set()
        else:
            raise ValueError(f"{type(cmd).__name__} is not available in compare mode")

    def _reset(self, cmd: ResetCompare) -> None:
        uses_points = cmd.config.data.name in ("drawn", "csv")
        points = np.asarray(cmd.points, dtype=np.float64) if cmd.points is not None else None
        # Built completely first: a failure (bad override, device) keeps the old pair.
        run = CompareRun(cmd.config, cmd.overrides, points if uses_points else None)
        self.compare = run
        self._halt()
        self._batch_total = 0
        self._rate_mark = (time.monotonic(), 0)
        self._need_grid = self._dirty = self._send_static = True
        self._post("reset_done", (run.a.config, run.b.config))

    def _halt(self) -> None:
        self._playing = False
        self._remaining = 0
        self._set_state("paused")

    # ------------------------------------------------------------------ work
    def _step(self) -> bool:
        """One step of each arm. A divergence pauses and reports; returns whether it ran."""
        assert self.compare is not None
        try:
            self.compare.step()
        except ArmDiverged as d:
            self._halt()
            self._dirty = self._need_grid = True
            self._post("diverged", str(d))
            return False
        self._dirty = True
        return True

    # ------------------------------------------------------------------ frames
    def _maybe_emit(self) -> None:
        run = self.compare
        if run is None or not self._dirty or not self._acked.is_set():
            return
        now = time.monotonic()
        if now - self._last_emit < self._frame_interval():
            return
        grid = self._need_grid or now - self._last_grid >= self._grid_interval
        frame = run.snapshot(max_chains=MAX_DRAWN_CHAINS, grid=grid)
        # The arms share their data, so the static layers are computed once for both.
        static = static_layers(run.a) if self._send_static else {}
        arms = []
        for t, snap in zip(run.arms, (frame.a, frame.b)):
            if not trails_follow_chains(t.config):
                snap = dataclasses.replace(snap, trails=None)
            arms.append(dataclasses.replace(snap, extra={**static, "device": str(t.device)}))
        extra: dict[str, Any] = {
            "emitted_at": now,
            "steps_per_s": self._steps_per_s(now, run.step_count),
            "state": self._state,
            "in_step": run.in_step,
            "progress": (self._batch_total - self._remaining, self._batch_total)
            if self._batch_total
            else None,
        }
        frame = dataclasses.replace(frame, a=arms[0], b=arms[1], extra=extra)
        self._acked.clear()
        self._dirty = self._send_static = False
        self._last_emit = now
        if grid:
            self._need_grid = False
            self._last_grid = now
        self.frames_emitted += 1
        self._post("snapshot_ready", frame)

    def _steps_per_s(self, now: float, step: int) -> float:
        t0, s0 = self._rate_mark
        if now - t0 >= 0.5:
            self._rate = (step - s0) / (now - t0) if step >= s0 else 0.0
            self._rate_mark = (now, step)
        return self._rate if (self._playing or self._remaining > 0) else 0.0

    # ------------------------------------------------------------------ helpers
    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._post("state_changed", state)

    def _fail(self, e: BaseException) -> None:
        traceback.print_exception(e)
        self._halt()
        self._dirty = True
        self._post("failed", f"{type(e).__name__}: {e}")


__all__ = ["CompareThread", "CompareFrame"]
