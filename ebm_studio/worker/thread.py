"""The worker thread: drives a ``RunGroup`` (N Qt-free trainers in lock-step) off the GUI thread.

One arm in the main window, two in compare mode. The GUI talks to it only through ``send`` (a
``queue.SimpleQueue`` of frozen commands), ``acknowledge_frame`` and ``request_stop``; it
answers with signals emitted in the GUI thread (``RunWorker._post``). Frames are paced by
``FramePacer`` (at most ``view.fps`` a second, each after the GUI acknowledged the last one)
and dressed by ``framing.dress``. See docs/architecture.md for the threading rules.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..core.config import Config
from ..core.frames import FrameInfo
from ..core.group import NO_OVERRIDES, ArmDiverged, RunGroup
from ..core.trainer import Trainer
from .commands import (
    Command,
    Load,
    LoadArms,
    MoveDevice,
    Reset,
    SampleMode,
    Save,
    SetPlaying,
    SetStepsPerFrame,
    StepOnce,
    Stop,
    TrainSteps,
    UpdateConfig,
    coalesce,
)
from .framing import MAX_DRAWN_CHAINS, SampleRun, dress
from .live_metrics import LiveMetrics
from .pacing import FramePacer

USES_POINTS = ("drawn", "csv")  # datasets whose points come from the user, not a formula


def default_torch_threads() -> int:
    """One or two threads: leave a core to the GUI thread, which needs the GIL and a core to
    draw while the worker computes."""
    return max(1, min(2, (os.cpu_count() or 2) - 1))


class RunWorker(QThread):
    """Runs N arms in lock-step in its own thread; one unit of work is one step of each arm
    (or one sampler iteration of each in sample mode).

    No Python object crosses the thread boundary through Qt: the worker puts each outgoing
    signal and its arguments in an outbox (a ``queue.SimpleQueue``) and emits the argument-free
    ``_posted``; the GUI thread, where this QThread object lives, takes them out and emits the
    public signals there. PySide's cross-thread marshalling of Python arguments has had
    reference-count bugs (PySide6 6.12.0 on Python 3.11 aborted after a few thousand frames);
    with this it only ever carries an empty event."""

    frame_ready = Signal(object)  # Frame: every arm's Snapshot and the FrameInfo
    state_changed = Signal(str)  # "paused", "playing", "sampling", "training", "stopped"
    diverged = Signal(str)  # the arms rolled back; the message says why and what to do
    failed = Signal(str)  # an exception in the worker or a command that could not run
    reset_done = Signal(object)  # RunConfigs of the new runs (after Reset, Load, MoveDevice)
    saved = Signal(str)  # checkpoint path
    loaded = Signal(str)  # checkpoint path (after the runs were replaced by it)
    arms_loaded = Signal(object)  # tuple of checkpoint paths, one per arm (after LoadArms)
    file_failed = Signal(str)  # a Save/Load that was refused: one sentence; the runs go on
    bound_reached = Signal(str)  # train.stop_at_kl reached: the runs paused; says where
    _posted = Signal()  # something waits in the outbox (emitted by the worker thread)

    def __init__(
        self,
        config: Config,
        points: np.ndarray | None = None,
        arms: Sequence[tuple[tuple[str, Any], ...]] = NO_OVERRIDES,
        *,
        health: bool = True,
        torch_threads: int | None = None,
        grid_interval: float = 0.25,
        parent: QObject | None = None,
    ) -> None:
        """``arms``: each arm's overrides of ``config`` (validated by the caller; a bad one is
        reported through ``failed`` when the thread starts). ``health``: add a chain-health
        sample to every arm's snapshot (the main window's health panel)."""
        super().__init__(parent)
        self._outbox: queue.SimpleQueue[tuple[str, tuple]] = queue.SimpleQueue()
        # Queued explicitly: the receiver (this object) lives in the GUI thread.
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pacer = FramePacer(grid_interval)
        self._live = LiveMetrics()  # coarse-grid KL/NLL between the full evaluations
        self._threads = torch_threads or default_torch_threads()
        self._health = health
        # Worker-side state: touched only from run() (the worker thread).
        self._initial = Reset(config, points, tuple(arms))
        self._points = points
        self.group: RunGroup | None = None
        self._playing = False
        self._remaining = 0  # steps left of a Train-N batch
        self._batch_total = 0
        self._sampling: SampleMode | None = None
        self._samples: list[SampleRun] = []
        self._state = ""

    # ------------------------------------------------------------------ GUI-thread API
    def send(self, command: Command) -> None:
        """Queue a command; the worker runs it between two optimizer steps."""
        self._queue.put(command)
        self._wake.set()

    def acknowledge_frame(self) -> None:
        """The GUI has drawn the last frame: the worker may emit the next one."""
        self._pacer.acked.set()
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def stop_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Ask the loop to end and wait for the thread to finish (the GUI's shutdown path).
        The loop checks between optimizer steps, so this waits at most about one step."""
        self.request_stop()
        if not self.isRunning():
            return True
        return self.wait() if timeout_ms is None else self.wait(timeout_ms)

    @property
    def trainers(self) -> tuple[Trainer, ...]:
        """The arms' trainers: read them only while the worker is paused (tests, benchmarks)."""
        return () if self.group is None else self.group.trainers

    @Slot()
    def _deliver(self) -> None:  # GUI thread
        while True:
            try:
                signal, args = self._outbox.get_nowait()
            except queue.Empty:
                return
            getattr(self, signal).emit(*args)

    def _post(self, signal: str, *args: object) -> None:
        """Emit ``signal(*args)`` in the GUI thread (called from the worker thread)."""
        self._outbox.put((signal, args))
        self._posted.emit()

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:  # Qt override: runs in the worker thread
        torch.set_num_threads(self._threads)
        try:
            self._reset(self._initial)
        except Exception as e:  # a bad start (device, points) is reported, not fatal
            self._fail(e)
        self._set_state("paused")
        while not self._stop.is_set():
            try:
                self._iterate()
            except Exception as e:  # a bug must not kill the thread
                self._fail(e)
        self._set_state("stopped")

    def _iterate(self) -> None:
        for cmd in self._drain():
            if self._stop.is_set():
                return
            try:
                self._execute(cmd)
            except Exception as e:  # shown in the GUI; the runs stay usable
                self._fail(e)
        if self._stop.is_set():
            return
        worked = self.group is not None and self._busy() and self._pacer.may_work()
        if worked and self._run_unit() and self._remaining > 0:
            self._remaining -= 1
            if self._remaining == 0:
                self._pacer.need_grid = True
                self._set_state("paused")
        self._maybe_emit()
        if not worked:
            self._wake.wait(self._pacer.idle_timeout(self._fps(), time.monotonic()))
            self._wake.clear()

    def _drain(self) -> list[Command]:
        """Every command queued so far, coalesced."""
        commands = []
        while True:
            try:
                commands.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return coalesce(commands)

    def _busy(self) -> bool:
        return self._playing or self._remaining > 0

    def _fps(self) -> int:
        return self.group.trainers[0].config.view.fps if self.group is not None else 30

    # ------------------------------------------------------------------ commands
    def _execute(self, cmd: Command) -> None:
        p = self._pacer
        if isinstance(cmd, UpdateConfig):
            self._update_config(cmd.config)
        elif isinstance(cmd, SetPlaying):
            self._playing = cmd.playing
            self._remaining = 0
            self._live.restart()
            p.steps_since_frame = 0
            p.need_grid = p.dirty = True
            self._set_state(self._busy_state() if cmd.playing else "paused")
        elif isinstance(cmd, StepOnce):
            # At once, in queue order: the step runs with the settings sent before it.
            if self.group is not None:
                self._run_unit()
                p.need_grid = True
        elif isinstance(cmd, TrainSteps):
            self._playing = False
            self._remaining = self._batch_total = max(int(cmd.n), 0)
            self._live.restart()
            p.dirty = True
            self._set_state("training" if self._remaining else "paused")
        elif isinstance(cmd, SetStepsPerFrame):
            p.steps_per_frame = max(int(cmd.n), 0)
        elif isinstance(cmd, SampleMode):
            self._sample_mode(cmd)
        elif isinstance(cmd, Reset):
            self._reset(cmd)
        elif isinstance(cmd, MoveDevice):
            self._move_device(cmd.device)
        elif isinstance(cmd, Save):
            self._save(cmd.path)
        elif isinstance(cmd, Load):
            self._load(cmd.path)
        elif isinstance(cmd, LoadArms):
            self._load_arms(cmd.paths)
        elif isinstance(cmd, Stop):
            self._stop.set()

    def _update_config(self, config: Config) -> None:
        if self.group is None:
            self._initial = dataclasses.replace(self._initial, config=config)
            return
        views = [t.config.view for t in self.group.trainers]
        self.group.apply_config(config)
        if views != [t.config.view for t in self.group.trainers]:
            self._pacer.need_grid = True
        self._pacer.dirty = True

    def _reset(self, cmd: Reset) -> None:
        if cmd.points is not None:
            self._points = np.asarray(cmd.points, dtype=np.float64)
        g = self.group
        if cmd.config is not None:
            config = cmd.config
        elif g is not None:
            config = g.pending or g.config
        else:
            config = self._initial.config
        arms = cmd.arms if cmd.arms is not None else (g.overrides if g else self._initial.arms)
        assert config is not None and arms is not None
        points = self._points if config.data.name in USES_POINTS else None
        # Built completely first: a failure (bad CSV, unavailable device) keeps the old runs.
        self._install(RunGroup(config, arms, points))

    def _move_device(self, device: str) -> None:
        if self.group is None:  # no run yet (its device failed, say): build one on it
            cfg = self._initial.config
            assert cfg is not None
            self._reset(Reset(cfg.with_value("train.device", device)))
            return
        self._install(self.group.moved(device), keep_state=True)

    def _save(self, path: str) -> None:
        from ..core.checkpoint import save_checkpoint

        n = len(self.trainers)
        if n != 1:
            why = f"A checkpoint holds one run, not {n}." if n else "There is no run to save yet."
            self._post("file_failed", why)
            return
        try:
            save_checkpoint(self.trainers[0], path)
        except OSError as e:  # unwritable folder, full disk: the run goes on untouched
            p = Path(path)
            reason = e.strerror or str(e)
            self._post("file_failed", f"Could not write {p.name} in {p.parent}: {reason}.")
            return
        self._post("saved", str(path))

    def _load(self, path: str) -> None:
        from ..core.checkpoint import CheckpointError, restore_trainer

        try:
            # Built completely before it replaces anything: a refused file leaves the runs.
            trainer = restore_trainer(path)
        except CheckpointError as e:
            self._post("file_failed", str(e))
            return
        points = None
        if trainer.config.data.name in USES_POINTS:  # its points are the saved set
            points = self._points = trainer.train_x.cpu().numpy().astype(np.float64)
        self._install(RunGroup(trainer.config, NO_OVERRIDES, points, trainers=[trainer]))
        self._post("loaded", str(path))

    def _load_arms(self, paths: tuple[str, ...]) -> None:
        from ..core.arm_checkpoints import restore_group
        from ..core.checkpoint import CheckpointError

        try:
            group = restore_group(paths)  # every arm built before anything is replaced
        except CheckpointError as e:
            self._post("file_failed", str(e))
            return
        if group.points is not None:
            self._points = group.points
        self._install(group)
        self._post("arms_loaded", tuple(paths))

    def _install(self, group: RunGroup, keep_state: bool = False) -> None:
        self.group = group
        if not keep_state:
            self._halt()
            self._batch_total = 0
        self._pacer.new_run(time.monotonic(), group.step_count)
        self._live.restart()
        if self._sampling is not None:
            self._samples = [SampleRun.start(t, self._sampling) for t in group.trainers]
        self._post("reset_done", group.configs())

    def _halt(self) -> None:
        self._playing = False
        self._remaining = 0
        self._set_state("paused")

    def _sample_mode(self, cmd: SampleMode) -> None:
        if not cmd.enabled:
            self._sampling, self._samples = None, []
        elif self._samples and not self._samples[0].restarts_for(cmd):
            for run in self._samples:
                run.update(cmd)
        else:
            self._samples = [SampleRun.start(t, cmd) for t in self.trainers]
        if cmd.enabled:
            self._sampling = cmd
        self._pacer.need_grid = self._pacer.dirty = True
        if self._busy():
            self._set_state(self._busy_state())

    # ------------------------------------------------------------------ work
    def _run_unit(self) -> bool:
        """One step of each arm (or sampler iteration in sample mode). A divergence pauses
        the runs and reports; returns whether the unit completed."""
        assert self.group is not None
        try:
            if self._samples:
                for t, run in zip(self.group.trainers, self._samples):
                    run.step(t)
            else:
                already = self.group.stop_requested
                self.group.step()
                self._live.after_step(self.group.trainers)
                if not already and self.group.stop_requested:
                    # Once per bound: Play continues past it (a new bound arms it again).
                    self._halt()
                    self._pacer.dirty = self._pacer.need_grid = True
                    self._post("bound_reached", self.group.stop_message())
        except ArmDiverged as d:
            self._halt()
            self._pacer.dirty = self._pacer.need_grid = True
            self._post("diverged", str(d))
            return False
        self._pacer.worked()
        return True

    def _maybe_emit(self) -> None:
        g, p = self.group, self._pacer
        now = time.monotonic()
        if g is None or not p.due(now, self._fps(), self._busy()):
            return
        sampling = bool(self._samples)
        grid = p.grid_due(now, sampling)
        info = FrameInfo(
            mode="sample" if sampling else "train",
            emitted_at=now,
            steps_per_s=p.steps_per_s(now, g.step_count, self._busy()),
            state=self._state,
            progress=(self._batch_total - self._remaining, self._batch_total)
            if self._batch_total
            else None,
            in_step=g.in_step,
        )
        frame = g.snapshot(max_chains=MAX_DRAWN_CHAINS, grid=grid)
        frame = dress(frame, g, info, self._samples, p.send_static, self._health)
        p.emitted(now, grid)
        self._post("frame_ready", frame)

    # ------------------------------------------------------------------ helpers
    def _busy_state(self) -> str:
        return "sampling" if self._sampling is not None else "playing"

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._post("state_changed", state)

    def _fail(self, e: BaseException) -> None:
        traceback.print_exception(e)
        self._halt()
        self._pacer.dirty = True
        self._post("failed", f"{type(e).__name__}: {e}")


__all__ = ["RunWorker", "default_torch_threads"]
