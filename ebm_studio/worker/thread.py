"""The training thread: drives the Qt-free ``Trainer``; commands in, snapshots out (DESIGN §2).

The GUI talks to it only through ``send`` (a ``queue.SimpleQueue`` of frozen commands),
``acknowledge_frame`` and ``request_stop``; it answers with signals emitted in the GUI thread
(``FrameWorker._post``). A frame is emitted at most ``view.fps`` times a second and only after
the GUI acknowledged the previous one, so a slow GUI drops frames instead of queueing them;
metric rows accumulate in the trainer until the next frame, so no curve point is lost. The
heatmap grid (about 30 ms at 200x200 on the worker's one torch thread on a 2-core machine) is
refreshed a few times a second, not every frame.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..core.config import Config
from ..core.metrics import grid_points
from ..core.samplers import Sampler
from ..core.trainer import Diverged, Snapshot, Trainer
from .commands import (
    Command,
    Load,
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

MAX_DRAWN_CHAINS = 100_000
DATA_POINTS_SHOWN = 2000
TRUE_DENSITY_RES = 100
TRAIL_CHAINS = 8
TRAIL_LENGTH = 50


def default_torch_threads() -> int:
    """One or two threads: leave a core to the GUI (GIL and cache contention, DESIGN §2)."""
    return max(1, min(2, (os.cpu_count() or 2) - 1))


def trails_follow_chains(config: Config) -> bool:
    """Whether the first chains of successive updates are the same chains. Only persistent
    chains with one chain per bank slot continue; CD, replay-buffer and short-run chains are
    fresh draws each update, so joining their positions would draw jumps, not trails."""
    return (
        config.objective.name == "mcmc"
        and config.objective.start == "persistent"
        and config.sampler.n_chains == config.buffer.size
    )


@dataclasses.dataclass
class _SampleRun:
    """Sample mode: chains of the frozen model, advanced by the shared ``Sampler``."""

    command: SampleMode
    sampler: Sampler
    gen: torch.Generator
    x: torch.Tensor
    steps: int = 0
    trails: deque = dataclasses.field(default_factory=lambda: deque(maxlen=TRAIL_LENGTH))
    stats: dict[str, float] = dataclasses.field(default_factory=dict)


class FrameWorker(QThread):
    """The GUI-facing half of a worker thread (the training thread, compare mode's thread):
    commands in through a queue, frames out only after the GUI acknowledged the last one.

    No Python object crosses the thread boundary through Qt: the worker puts each outgoing
    signal and its arguments in an outbox (a ``queue.SimpleQueue``) and emits the argument-free
    ``_posted``; the GUI thread, where this QThread object lives, takes them out and emits the
    public signals there. PySide's cross-thread marshalling of Python arguments has had
    reference-count bugs (DESIGN §2); with this it only ever carries an empty event."""

    _posted = Signal()  # something waits in the outbox (emitted by the worker thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._outbox: queue.SimpleQueue[tuple[str, tuple]] = queue.SimpleQueue()
        # Queued explicitly: the receiver (this object) lives in the GUI thread.
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acked = threading.Event()
        self._acked.set()
        self.frames_emitted = 0
        # Loop state the base reads and both workers keep (worker thread only).
        self._playing = False
        self._remaining = 0  # steps left of a Train-N batch
        self._batch_total = 0
        self._dirty = True
        self._need_grid = True
        self._send_static = True
        self._last_emit = -1e9
        self._last_grid = -1e9
        self._rate = 0.0
        self._rate_mark = (time.monotonic(), 0)
        self._state = ""

    def send(self, command: Command) -> None:
        """Queue a command; the worker runs it between two optimizer steps."""
        self._queue.put(command)
        self._wake.set()

    def acknowledge_frame(self) -> None:
        """The GUI has drawn the last snapshot: the worker may emit the next one."""
        self._acked.set()
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _post(self, signal: str, *args: object) -> None:
        """Emit ``signal(*args)`` in the GUI thread (called from the worker thread)."""
        self._outbox.put((signal, args))
        self._posted.emit()

    @Slot()
    def _deliver(self) -> None:  # GUI thread
        while True:
            try:
                signal, args = self._outbox.get_nowait()
            except queue.Empty:
                return
            getattr(self, signal).emit(*args)

    def stop_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Ask the loop to end and wait for the thread to finish (the GUI's shutdown path).
        The loop checks between optimizer steps, so this waits at most about one step."""
        self.request_stop()
        if not self.isRunning():
            return True
        return self.wait() if timeout_ms is None else self.wait(timeout_ms)

    def _drain(self) -> list[Command]:
        """Every command queued so far, coalesced (worker thread)."""
        commands = []
        while True:
            try:
                commands.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return coalesce(commands)

    # ------------------------------------------------------------------ the loop
    # Subclasses provide: _start (build the first run), _execute (one command), _can_work,
    # _run_unit (one unit of work; True if it counts toward a Train-N batch), _maybe_emit,
    # _fps, _set_state, _fail, and the attribute _threads.
    def run(self) -> None:  # Qt override: runs in the worker thread
        torch.set_num_threads(self._threads)
        self._start()
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
            except Exception as e:  # shown in the GUI; the run stays usable
                self._fail(e)
        if self._stop.is_set():
            return
        worked = self._can_work()
        if worked and self._run_unit() and self._remaining > 0:
            self._remaining -= 1
            if self._remaining == 0:
                self._need_grid = True
                self._set_state("paused")
        self._maybe_emit()
        if not worked:
            self._wake.wait(self._idle_timeout())
            self._wake.clear()

    def _idle_timeout(self) -> float:
        if self._dirty and self._acked.is_set():
            wait = self._last_emit + self._frame_interval() - time.monotonic()
            return min(max(wait, 0.001), 0.5)
        return 0.5

    def _frame_interval(self) -> float:
        return 1.0 / max(self._fps(), 1)


class TrainingThread(FrameWorker):
    """Runs the trainer in its own thread. Its signals are emitted in the GUI thread, from the
    worker's outbox (``FrameWorker._post``)."""

    snapshot_ready = Signal(object)  # Snapshot; extra holds mode, steps/s, progress, ...
    state_changed = Signal(str)  # "paused", "playing", "sampling", "training"
    diverged = Signal(str)  # the trainer rolled back; message says why and what to do
    failed = Signal(str)  # an exception in the worker or a command that could not run
    reset_done = Signal(object)  # Config of the new run (after Reset, Load, MoveDevice)
    saved = Signal(str)  # checkpoint path
    loaded = Signal(str)  # checkpoint path (after the run was replaced by it)
    file_failed = Signal(str)  # a Save/Load that was refused: one sentence; the run goes on

    def __init__(
        self,
        config: Config,
        points: np.ndarray | None = None,
        *,
        torch_threads: int | None = None,
        grid_interval: float = 0.25,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._initial = config
        self._points = points
        self._threads = torch_threads or default_torch_threads()
        self._grid_interval = grid_interval
        # Worker-side state: touched only from run() (the worker thread).
        self.trainer: Trainer | None = None
        self._steps_per_frame = 0
        self._steps_since_frame = 0
        self._sample: _SampleRun | None = None

    # ------------------------------------------------------------------ worker loop
    def _start(self) -> None:
        self._execute(Reset(self._initial, self._points))

    def _busy(self) -> bool:
        return self._playing or self._remaining > 0

    def _can_work(self) -> bool:
        if self.trainer is None or not self._busy():
            return False
        # Slow motion: after n steps, wait until that frame has gone out.
        spf = self._steps_per_frame
        return not (spf > 0 and self._steps_since_frame >= spf)

    def _fps(self) -> int:
        return self.trainer.config.view.fps if self.trainer is not None else 30

    # ------------------------------------------------------------------ commands
    def _execute(self, cmd: Command) -> None:
        if isinstance(cmd, UpdateConfig):
            self._update_config(cmd.config)
        elif isinstance(cmd, SetPlaying):
            self._playing = cmd.playing
            self._remaining = 0
            self._steps_since_frame = 0
            self._need_grid = self._dirty = True
            self._set_state(self._busy_state() if cmd.playing else "paused")
        elif isinstance(cmd, StepOnce):
            # At once, in queue order: the step runs with the settings sent before it.
            if self.trainer is not None:
                self._run_unit()
                self._need_grid = True
        elif isinstance(cmd, TrainSteps):
            self._playing = False
            self._remaining = self._batch_total = max(int(cmd.n), 0)
            self._dirty = True
            self._set_state("training" if self._remaining else "paused")
        elif isinstance(cmd, SetStepsPerFrame):
            self._steps_per_frame = max(int(cmd.n), 0)
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
        elif isinstance(cmd, Stop):
            self._stop.set()

    def _save(self, path: str) -> None:
        from ..core.checkpoint import save_checkpoint

        if self.trainer is None:
            self._post("file_failed", "There is no run to save yet.")
            return
        try:
            save_checkpoint(self.trainer, path)
        except OSError as e:  # unwritable folder, full disk: the run goes on untouched
            p = Path(path)
            reason = e.strerror or str(e)
            self._post("file_failed", f"Could not write {p.name} in {p.parent}: {reason}.")
            return
        self._post("saved", str(path))

    def _load(self, path: str) -> None:
        from ..core.checkpoint import CheckpointError, restore_trainer

        try:
            # Built completely before it replaces anything: a refused file leaves the run.
            trainer = restore_trainer(path)
        except CheckpointError as e:
            self._post("file_failed", str(e))
            return
        if trainer.config.data.name in ("drawn", "csv"):  # its points are the saved set
            self._points = trainer.train_x.cpu().numpy().astype(np.float64)
        self._install(trainer)
        self._post("loaded", str(path))

    def _update_config(self, config: Config) -> None:
        if self.trainer is None:
            self._initial = config
            return
        old = self.trainer.config
        self.trainer.apply_config(config)
        if old.view != self.trainer.config.view:
            self._need_grid = True
        self._dirty = True

    def _reset(self, cmd: Reset) -> None:
        if cmd.points is not None:
            self._points = np.asarray(cmd.points, dtype=np.float64)
        if cmd.config is not None:
            config = cmd.config
        elif self.trainer is not None:
            config = self.trainer.pending or self.trainer.config
        else:
            config = self._initial
        uses_points = config.data.name in ("drawn", "csv")
        # Build the new run first: a failure (bad CSV, unavailable device) keeps the old one.
        self._install(Trainer(config, points=self._points if uses_points else None))

    def _move_device(self, device: str) -> None:
        old = self.trainer
        if old is None:  # no run yet (its device failed, say): build one on this device
            cfg = self._initial
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=device))
            self._reset(Reset(cfg))
            return
        tensors, meta = old.state_dict()
        cfg = old.config
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=device))
        uses_points = cfg.data.name in ("drawn", "csv")
        new = Trainer(cfg, points=self._points if uses_points else None, pretrain=False)
        new.load_state_dict(tensors, meta)
        if old.pending is not None:
            p = old.pending
            new.pending = dataclasses.replace(p, train=dataclasses.replace(p.train, device=device))
        self._install(new, keep_state=True)

    def _install(self, trainer: Trainer, keep_state: bool = False) -> None:
        self.trainer = trainer
        if not keep_state:
            self._halt()
        self._rate_mark = (time.monotonic(), trainer.step_count)
        self._need_grid = self._dirty = self._send_static = True
        if self._sample is not None:
            self._sample = self._start_sampling(self._sample.command)
        self._post("reset_done", trainer.config)

    def _halt(self) -> None:
        self._playing = False
        self._remaining = 0
        self._set_state("paused")

    def _sample_mode(self, cmd: SampleMode) -> None:
        run = self._sample
        if not cmd.enabled:
            self._sample = None
        elif (
            run is None
            or cmd.restart
            or cmd.n_chains != run.command.n_chains
            or cmd.start != run.command.start
        ):
            self._sample = self._start_sampling(cmd)
        else:
            run.sampler.apply_config(cmd.sampler)
            run.command = cmd
        self._need_grid = self._dirty = True
        if self._busy():
            self._set_state(self._busy_state())

    def _start_sampling(self, cmd: SampleMode) -> _SampleRun | None:
        t = self.trainer
        if t is None:
            return None
        gen = torch.Generator(device=t.device).manual_seed(t.config.train.seed + 17)
        x = t.sample_starts(int(cmd.n_chains), cmd.start, gen)
        run = _SampleRun(cmd, Sampler(cmd.sampler, t.box), gen, x)
        run.trails.append(x[:TRAIL_CHAINS].cpu())
        return run

    # ------------------------------------------------------------------ work
    def _run_unit(self) -> bool:
        """One optimizer step (or sampler iteration in sample mode). Divergence pauses the
        run and reports; returns whether the unit completed."""
        assert self.trainer is not None
        try:
            if self._sample is not None:
                self._sample_step(self._sample)
            else:
                self.trainer.step()
        except Diverged as d:
            self._halt()
            self._dirty = self._need_grid = True
            self._post("diverged", str(d))
            return False
        self._steps_since_frame += 1
        self._dirty = True
        return True

    def _sample_step(self, run: _SampleRun) -> None:
        t = self.trainer
        assert t is not None
        x, stats = run.sampler.run(t.model, run.x, max(int(run.command.steps), 1), run.gen)
        run.x = x.detach()
        run.steps += stats.steps
        run.trails.append(run.x[:TRAIL_CHAINS].cpu())
        run.stats = {"sample_energy": stats.mean_energy, "sample_grad": stats.grad_norm}
        if stats.acceptance is not None:
            run.stats["sample_acceptance"] = stats.acceptance

    # ------------------------------------------------------------------ frames
    def _maybe_emit(self) -> None:
        t = self.trainer
        if t is None or not self._dirty or not self._acked.is_set():
            return
        now = time.monotonic()
        if now - self._last_emit < self._frame_interval():
            return
        spf = self._steps_per_frame
        if spf > 0 and self._busy() and 0 < self._steps_since_frame < spf:
            return  # slow motion: a frame shows exactly spf steps
        sampling = self._sample is not None
        grid = self._need_grid or (not sampling and now - self._last_grid >= self._grid_interval)
        snap = t.snapshot(res=t.config.view.resolution, max_chains=MAX_DRAWN_CHAINS, grid=grid)
        extra: dict[str, Any] = {
            "mode": "sample" if sampling else "train",
            "emitted_at": now,
            "steps_per_s": self._steps_per_s(now, t.step_count),
            "device": str(t.device),
            "state": self._state,
            "progress": (self._batch_total - self._remaining, self._batch_total)
            if self._batch_total
            else None,
        }
        if self._send_static:
            extra.update(self._static_layers(t))
            self._send_static = False
        if not sampling and not trails_follow_chains(t.config):
            snap = dataclasses.replace(snap, trails=None)
        if sampling:
            run = self._sample
            assert run is not None
            snap = dataclasses.replace(
                snap,
                chains=run.x[:MAX_DRAWN_CHAINS].cpu().numpy().copy(),
                trails=torch.stack(list(run.trails), 1).numpy().copy(),
            )
            extra.update(run.stats, sample_steps=run.steps)
        extra["health"] = _health_energies(t, snap)
        snap = dataclasses.replace(snap, extra=extra)
        self._acked.clear()
        self._dirty = False
        self._last_emit = now
        self._steps_since_frame = 0
        if grid:
            self._need_grid = False
            self._last_grid = now
        self.frames_emitted += 1
        self._post("snapshot_ready", snap)

    def _steps_per_s(self, now: float, step: int) -> float:
        t0, s0 = self._rate_mark
        if now - t0 >= 0.5:
            self._rate = (step - s0) / (now - t0) if step >= s0 else 0.0
            self._rate_mark = (now, step)
        return self._rate if self._busy() else 0.0

    def _static_layers(self, t: Trainer) -> dict[str, Any]:
        return static_layers(t)

    # ------------------------------------------------------------------ helpers
    def _busy_state(self) -> str:
        return "sampling" if self._sample is not None else "playing"

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._post("state_changed", state)

    def _fail(self, e: BaseException) -> None:
        traceback.print_exception(e)
        self._halt()
        self._dirty = True
        self._post("failed", f"{type(e).__name__}: {e}")


def static_layers(t: Trainer) -> dict[str, Any]:
    """What changes only on reset: shown data points and the true log-density grid."""
    out: dict[str, Any] = {"data": t.train_x[:DATA_POINTS_SHOWN].cpu().numpy().copy()}
    if t.dataset.has_density:
        pts, _ = grid_points(t.box, TRUE_DENSITY_RES)
        with torch.no_grad():
            lp = t.dataset.log_prob(pts.double())
        out["true_log_p"] = lp.reshape(TRUE_DENSITY_RES, TRUE_DENSITY_RES).numpy().copy()
    return out


HEALTH_SAMPLE = 256  # chains, data and buffer points per frame for the chain-health panel


@torch.no_grad()
def _health_energies(t: Trainer, snap: Snapshot) -> dict[str, np.ndarray]:
    """Energies for the chain-health panel: a few hundred model evaluations per frame.

    ``chains`` are the first drawn chains (the same chains frame to frame in sample mode and
    under persistent CD; under CD and the buffer they are each update's negatives), ``data`` a
    fixed data sample, ``buffer`` the first buffer entries."""
    out: dict[str, np.ndarray] = {}
    parts = {"data": t.train_x[:HEALTH_SAMPLE]}
    if snap.chains is not None and len(snap.chains):
        parts["chains"] = torch.from_numpy(snap.chains[:HEALTH_SAMPLE]).to(t.device)
    if snap.buffer is not None and len(snap.buffer):
        parts["buffer"] = torch.from_numpy(snap.buffer[:HEALTH_SAMPLE]).to(t.device)
    for name, x in parts.items():
        out[name] = t.model(x.float()).double().cpu().numpy()
    return out


__all__ = ["FrameWorker", "TrainingThread", "Snapshot", "default_torch_threads"]
