"""The training thread on its own: commands in, snapshots out, nothing else shared."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ebm_studio.core.config import Config
from ebm_studio.worker.commands import (
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
from ebm_studio.worker.thread import TrainingThread, trails_follow_chains

TIMEOUT = 60_000  # ms; generous for a loaded CI machine (no test asserts on time)


def small_config(**overrides) -> Config:
    """A tiny run: persistent chains (chain i of one frame is chain i of the next)."""
    cfg = Config()
    values = {
        "model.width": 32,
        "model.depth": 2,
        "data.n_train": 2000,
        "data.n_test": 500,
        "objective.start": "persistent",
        "sampler.steps": 5,
        "sampler.n_chains": 64,
        "buffer.size": 64,
        "train.batch_size": 64,
        "train.eval_every": 100_000,
        "train.grid_res": 32,
        "view.resolution": 32,
        "view.fps": 60,
    }
    values.update(overrides)
    for key, value in values.items():
        cfg = cfg.with_value(key, value)
    return cfg


class Harness:
    """A TrainingThread plus what it emitted; acknowledges frames unless told not to."""

    def __init__(self, qtbot, config: Config, auto_ack: bool = True, **kwargs) -> None:
        self.qtbot = qtbot
        self.thread = TrainingThread(config, **kwargs)
        self.snapshots: list = []
        self.states: list[str] = []
        self.errors: list[str] = []
        self.diverged: list[str] = []
        self.resets: list[Config] = []
        self.auto_ack = auto_ack
        self.thread.snapshot_ready.connect(self._on_snapshot_ready)
        self.thread.state_changed.connect(self.states.append)
        self.thread.failed.connect(self.errors.append)
        self.thread.diverged.connect(self.diverged.append)
        self.thread.reset_done.connect(self.resets.append)

    def _on_snapshot_ready(self, snap) -> None:
        self.snapshots.append(snap)
        if self.auto_ack:
            self.thread.acknowledge_frame()

    @property
    def last(self):
        return self.snapshots[-1]

    def start(self) -> Harness:
        self.thread.start()
        self.qtbot.waitUntil(lambda: bool(self.snapshots), timeout=TIMEOUT)
        return self

    def wait_step(self, step: int):
        """Wait for a frame at exactly ``step`` (paused runs emit one frame per StepOnce)."""
        self.qtbot.waitUntil(lambda: any(s.step == step for s in self.snapshots), timeout=TIMEOUT)
        return next(s for s in self.snapshots if s.step == step)

    def wait_state(self, state: str) -> None:
        self.qtbot.waitUntil(lambda: self.states and self.states[-1] == state, timeout=TIMEOUT)

    def stop(self) -> None:
        assert self.thread.stop_and_wait(TIMEOUT)


@pytest.fixture
def harness(qtbot):
    made: list[Harness] = []

    def make(config: Config | None = None, **kwargs) -> Harness:
        h = Harness(qtbot, config or small_config(), **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


def test_signals_reach_the_gui_thread_without_crossing_threads_through_qt(harness, qtbot):
    """Every public signal is emitted in the GUI thread (the worker posts to an outbox and
    emits only an argument-free signal), so even a direct connection runs there and no Python
    object is marshalled across threads by PySide."""
    import threading

    from PySide6.QtCore import Qt

    h = harness()
    seen: list[tuple[str, threading.Thread]] = []
    direct = Qt.ConnectionType.DirectConnection
    for name in ("snapshot_ready", "state_changed", "reset_done"):
        getattr(h.thread, name).connect(
            lambda *_, n=name: seen.append((n, threading.current_thread())), direct
        )
    h.start()
    h.thread.send(StepOnce())
    h.wait_step(1)
    h.thread.send(Reset(h.thread.trainer.config))
    qtbot.waitUntil(lambda: bool(h.resets), timeout=TIMEOUT)
    assert {n for n, _ in seen} == {"snapshot_ready", "state_changed", "reset_done"}
    assert all(t is threading.main_thread() for _, t in seen), seen


def test_coalesce_keeps_only_the_last_of_consecutive_updates():
    a, b, c, d = (UpdateConfig(Config().with_value("sampler.steps", k)) for k in (1, 2, 3, 4))
    step, play, stop = StepOnce(), SetPlaying(True), Stop()
    out = coalesce([a, b, c, step, play, d, stop])
    assert out == [c, step, play, d, stop]
    assert coalesce([step, step, a]) == [step, step, a]  # discrete commands are never merged


def test_worker_runs_every_discrete_command_and_only_the_last_update(harness):
    base = small_config()
    h = harness(base)
    # Queued before the thread starts, so the worker drains them all in one go.
    for size in (0.011, 0.012, 0.013):
        h.thread.send(UpdateConfig(base.with_value("sampler.step_size", size)))
    h.thread.send(StepOnce())
    h.thread.send(StepOnce())
    for size in (0.021, 0.022):
        h.thread.send(UpdateConfig(base.with_value("sampler.step_size", size)))
    h.thread.send(StepOnce())
    h.start()
    h.wait_step(3)
    events = [label for s in h.snapshots for _, label in s.events]
    assert events == ["step size eta 0.01 -> 0.013", "step size eta 0.013 -> 0.022"]
    assert [step for s in h.snapshots for step, _ in s.events] == [0, 2]
    rows = [r["step"] for s in h.snapshots for r in s.rows]
    assert rows == [1.0, 2.0, 3.0]


def test_play_pause_resume_stop(harness):
    h = harness().start()
    assert h.last.step == 0 and h.states[-1] == "paused"
    h.thread.send(SetPlaying(True))
    h.wait_state("playing")
    h.qtbot.waitUntil(lambda: h.last.step >= 5, timeout=TIMEOUT)
    h.thread.send(SetPlaying(False))
    h.wait_state("paused")
    # Paused means no step runs: one StepOnce advances exactly one step from where it stopped.
    h.qtbot.waitUntil(lambda: h.last.extra["state"] == "paused", timeout=TIMEOUT)
    paused_at = h.last.step
    h.thread.send(StepOnce())
    assert h.wait_step(paused_at + 1).step == paused_at + 1
    h.thread.send(SetPlaying(True))
    h.qtbot.waitUntil(lambda: h.last.step >= paused_at + 5, timeout=TIMEOUT)
    h.thread.send(Stop())
    h.qtbot.waitUntil(h.thread.isFinished, timeout=TIMEOUT)
    assert h.states[-1] == "stopped" and not h.errors


def chain_move(a, b) -> float:
    return float(np.linalg.norm(b.chains - a.chains, axis=1).mean())


def test_larger_step_size_moves_chains_further(harness):
    base = small_config(**{"sampler.step_size": 1e-4})
    h = harness(base).start()
    for step in (1, 2):
        h.thread.send(StepOnce())
        h.wait_step(step)
    small = chain_move(h.wait_step(1), h.wait_step(2))
    h.thread.send(UpdateConfig(base.with_value("sampler.step_size", 0.05)))
    h.thread.send(StepOnce())
    large = chain_move(h.wait_step(2), h.wait_step(3))
    # Coupled Langevin moves ~sqrt(2 eta k): 500x the step size is ~20x the distance.
    assert large > 5 * small, (small, large)


def test_frames_wait_for_acknowledgement_and_lose_no_row(harness):
    h = harness(auto_ack=False).start()
    assert len(h.snapshots) == 1
    # Without an acknowledgement no frame follows, however far training goes.
    h.thread.send(TrainSteps(30))
    h.qtbot.waitUntil(lambda: h.states[-2:] == ["training", "paused"], timeout=TIMEOUT)
    assert len(h.snapshots) == 1
    h.thread.acknowledge_frame()
    h.qtbot.waitUntil(lambda: len(h.snapshots) == 2, timeout=TIMEOUT)
    steps = [r["step"] for s in h.snapshots for r in s.rows]
    assert steps == [float(i) for i in range(1, h.snapshots[-1].step + 1)]
    assert h.snapshots[-1].step >= 30


def test_frame_rate_stays_under_its_cap(harness):
    fps = 20
    h = harness(small_config(**{"view.fps": fps})).start()
    h.thread.send(SetPlaying(True))
    h.qtbot.waitUntil(lambda: len(h.snapshots) >= 12, timeout=TIMEOUT)
    stamps = np.array([s.extra["emitted_at"] for s in h.snapshots])
    # The worker's own clock: consecutive frames are never closer than 1/fps.
    assert np.diff(stamps).min() >= 1.0 / fps - 1e-6
    # ... and the heatmap grid is not recomputed every frame.
    grids = sum(s.energy is not None for s in h.snapshots[2:])
    assert grids < len(h.snapshots[2:])


def test_divergence_pauses_and_reports(harness):
    cfg = small_config(**{"optim.lr": 1.0, "objective.alpha": 0.0, "train.energy_limit": 1.0})
    h = harness(cfg).start()
    h.thread.send(SetPlaying(True))
    h.qtbot.waitUntil(lambda: bool(h.diverged), timeout=TIMEOUT)
    h.wait_state("paused")
    assert "diverged" in h.diverged[0] and "Rolled back" in h.diverged[0]
    h.qtbot.waitUntil(lambda: any("rolled back" in e for s in h.snapshots for _, e in s.events))
    assert not h.errors


def test_exception_in_worker_is_reported_and_run_stays_usable(harness, monkeypatch):
    from ebm_studio.core.trainer import Trainer

    h = harness().start()
    original = Trainer.step

    def broken(self):
        raise RuntimeError("boom in step")

    monkeypatch.setattr(Trainer, "step", broken)
    h.thread.send(SetPlaying(True))
    h.qtbot.waitUntil(lambda: bool(h.errors), timeout=TIMEOUT)
    h.wait_state("paused")
    assert "boom in step" in h.errors[0]
    monkeypatch.setattr(Trainer, "step", original)
    h.thread.send(StepOnce())
    h.wait_step(1)
    assert h.thread.isRunning()


def test_bad_reset_keeps_the_old_run(harness):
    h = harness().start()
    h.thread.send(StepOnce())
    h.wait_step(1)
    bad = small_config(**{"data.name": "drawn"})  # "drawn" without points: a DataError
    h.thread.send(Reset(bad, None))
    h.qtbot.waitUntil(lambda: bool(h.errors), timeout=TIMEOUT)
    h.thread.send(StepOnce())
    h.wait_step(2)  # the old run continues where it was
    assert len(h.resets) == 1


def test_reset_with_points_trains_on_them(harness):
    h = harness().start()
    pts = np.random.default_rng(0).normal(1.0, 0.2, size=(300, 2))
    since = len(h.snapshots)
    h.thread.send(Reset(small_config(**{"data.name": "drawn"}), pts))
    h.qtbot.waitUntil(lambda: any("data" in s.extra for s in h.snapshots[since:]), timeout=TIMEOUT)
    first = next(s for s in h.snapshots[since:] if "data" in s.extra)
    assert len(h.resets) == 2 and first.step == 0
    data = first.extra["data"]
    assert np.allclose(data.mean(0), 1.0, atol=0.1)
    assert "true_log_p" not in first.extra  # points have no exact density


def test_train_steps_runs_exactly_n_and_reports_progress(harness):
    h = harness().start()
    h.thread.send(TrainSteps(12))
    h.qtbot.waitUntil(lambda: h.last.step == 12 and h.states[-1] == "paused", timeout=TIMEOUT)
    assert h.last.extra["progress"] == (12, 12)
    assert "training" in h.states


def test_slow_motion_shows_exactly_n_steps_per_frame(harness):
    h = harness().start()
    h.thread.send(SetStepsPerFrame(3))
    h.thread.send(SetPlaying(True))
    h.qtbot.waitUntil(lambda: h.last.step >= 12, timeout=TIMEOUT)
    h.thread.send(SetPlaying(False))
    playing = [s.step for s in h.snapshots[1:] if s.extra["state"] == "playing"]
    assert playing and all(step % 3 == 0 for step in playing)


def test_sample_mode_freezes_the_model(harness):
    h = harness().start()
    h.thread.send(TrainSteps(3))
    h.wait_step(3)
    cmd = SampleMode(enabled=True, n_chains=500, start="noise", sampler=Config().sampler)
    h.thread.send(cmd)
    h.thread.send(SetPlaying(True))
    h.qtbot.waitUntil(
        lambda: h.last.extra["mode"] == "sample" and h.last.extra["sample_steps"] >= 5,
        timeout=TIMEOUT,
    )
    snap = h.last
    assert snap.step == 3  # no optimizer step while sampling
    assert snap.chains.shape == (500, 2)
    assert snap.trails is not None and snap.trails.shape[0] == 8
    grids = [s.energy for s in h.snapshots if s.extra["mode"] == "sample" and s.energy is not None]
    assert all(np.array_equal(grids[0], g) for g in grids)  # the landscape does not move
    h.thread.send(SampleMode(enabled=False))
    h.thread.send(SetPlaying(False))
    h.wait_state("paused")


def test_trails_only_where_chains_continue():
    assert trails_follow_chains(small_config())
    assert not trails_follow_chains(small_config(**{"objective.start": "buffer"}))
    assert not trails_follow_chains(small_config(**{"buffer.size": 128}))


def test_move_device_keeps_the_run_and_save_writes_a_checkpoint(harness, tmp_path):
    from ebm_studio import load_checkpoint

    h = harness().start()
    h.thread.send(TrainSteps(4))
    h.wait_step(4)
    h.thread.send(MoveDevice("cpu"))
    h.qtbot.waitUntil(lambda: len(h.resets) == 2, timeout=TIMEOUT)
    assert h.resets[-1].train.device == "cpu"
    path = tmp_path / "run.safetensors"
    with h.qtbot.waitSignal(h.thread.saved, timeout=TIMEOUT):
        h.thread.send(Save(str(path)))
    loaded = load_checkpoint(path)
    assert loaded.step == 4  # the move kept the weights, optimizer and step count
    e = loaded.energy(torch.zeros(3, 2))
    assert e.shape == (3,) and torch.isfinite(e).all()
