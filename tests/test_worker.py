"""The worker thread on its own: commands in, frames out, nothing else shared."""

from __future__ import annotations

import numpy as np
import torch

from ebm_studio.core.config import Config
from ebm_studio.core.frames import ConfigChange, Rollback
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
from ebm_studio.worker.framing import trails_follow_chains


def test_signals_reach_the_gui_thread_without_crossing_threads_through_qt(worker):
    """Every public signal is emitted in the GUI thread (the worker posts to an outbox and
    emits only an argument-free signal), so even a direct connection runs there and no Python
    object is marshalled across threads by PySide."""
    import threading

    from PySide6.QtCore import Qt

    h = worker()
    seen: list[tuple[str, threading.Thread]] = []
    direct = Qt.ConnectionType.DirectConnection
    for name in ("frame_ready", "state_changed", "reset_done"):
        getattr(h.thread, name).connect(
            lambda *_, n=name: seen.append((n, threading.current_thread())), direct
        )
    h.start()
    h.thread.send(StepOnce())
    h.wait_step(1)
    h.thread.send(Reset(h.thread.trainers[0].config))
    h.wait(lambda: bool(h.resets))
    assert {n for n, _ in seen} == {"frame_ready", "state_changed", "reset_done"}
    assert all(t is threading.main_thread() for _, t in seen), seen


def test_coalesce_keeps_only_the_last_of_consecutive_updates():
    a, b, c, d = (UpdateConfig(Config().with_value("sampler.steps", k)) for k in (1, 2, 3, 4))
    step, play, stop = StepOnce(), SetPlaying(True), Stop()
    out = coalesce([a, b, c, step, play, d, stop])
    assert out == [c, step, play, d, stop]
    assert coalesce([step, step, a]) == [step, step, a]  # discrete commands are never merged


def test_worker_runs_every_discrete_command_and_only_the_last_update(worker, small_config):
    base = small_config()
    h = worker(base)
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
    events = [e for s in h.snapshots for e in s.events]
    assert [e.label for e in events] == [
        "step size eta 0.01 -> 0.013",
        "step size eta 0.013 -> 0.022",
    ]
    assert [e.step for e in events] == [0, 2]
    assert events[1] == ConfigChange(2, "sampler.step_size", 0.013, 0.022)
    rows = [r["step"] for s in h.snapshots for r in s.rows]
    assert rows == [1.0, 2.0, 3.0]


def test_play_pause_resume_stop(worker):
    h = worker().start()
    assert h.last.step == 0 and h.states[-1] == "paused"
    h.thread.send(SetPlaying(True))
    h.wait_state("playing")
    h.wait(lambda: h.last.step >= 5)
    h.thread.send(SetPlaying(False))
    h.wait_state("paused")
    # Paused means no step runs: one StepOnce advances exactly one step from where it stopped.
    h.wait(lambda: h.last.info.state == "paused")
    paused_at = h.last.step
    h.thread.send(StepOnce())
    assert h.wait_step(paused_at + 1).step == paused_at + 1
    h.thread.send(SetPlaying(True))
    h.wait(lambda: h.last.step >= paused_at + 5)
    h.thread.send(Stop())
    h.wait(h.thread.isFinished)
    assert h.states[-1] == "stopped" and not h.errors


def chain_move(a, b) -> float:
    return float(np.linalg.norm(b.arms[0].chains - a.arms[0].chains, axis=1).mean())


def test_larger_step_size_moves_chains_further(worker, small_config):
    base = small_config(**{"sampler.step_size": 1e-4})
    h = worker(base).start()
    for step in (1, 2):
        h.thread.send(StepOnce())
        h.wait_step(step)
    small = chain_move(h.wait_step(1), h.wait_step(2))
    h.thread.send(UpdateConfig(base.with_value("sampler.step_size", 0.05)))
    h.thread.send(StepOnce())
    large = chain_move(h.wait_step(2), h.wait_step(3))
    # Coupled Langevin moves ~sqrt(2 eta k): 500x the step size is ~20x the distance.
    assert large > 5 * small, (small, large)


def test_frames_wait_for_acknowledgement_and_lose_no_row(worker):
    h = worker(auto_ack=False).start()
    assert len(h.frames) == 1
    # Without an acknowledgement no frame follows, however far training goes.
    h.thread.send(TrainSteps(30))
    h.wait(lambda: h.states[-2:] == ["training", "paused"])
    assert len(h.frames) == 1
    h.thread.acknowledge_frame()
    h.wait(lambda: len(h.frames) == 2)
    steps = [r["step"] for s in h.snapshots for r in s.rows]
    assert steps == [float(i) for i in range(1, h.frames[-1].step + 1)]
    assert h.frames[-1].step >= 30


def test_frame_rate_stays_under_its_cap(worker, small_config):
    fps = 20
    h = worker(small_config(**{"view.fps": fps})).start()
    h.thread.send(SetPlaying(True))
    h.wait(lambda: len(h.frames) >= 12)
    stamps = np.array([f.info.emitted_at for f in h.frames])
    # The worker's own clock: consecutive frames are never closer than 1/fps.
    assert np.diff(stamps).min() >= 1.0 / fps - 1e-6
    # ... and the heatmap grid is not recomputed every frame.
    grids = sum(s.energy is not None for s in h.snapshots[2:])
    assert grids < len(h.snapshots[2:])


def test_divergence_pauses_and_reports(worker, small_config):
    cfg = small_config(**{"optim.lr": 1.0, "objective.alpha": 0.0, "train.energy_limit": 1.0})
    h = worker(cfg).start()
    h.thread.send(SetPlaying(True))
    h.wait(lambda: bool(h.diverged))
    h.wait_state("paused")
    assert "diverged" in h.diverged[0] and "Rolled back" in h.diverged[0]
    h.wait(lambda: any("rolled back" in e.label for s in h.snapshots for e in s.events))
    rollback = next(e for s in h.snapshots for e in s.events if isinstance(e, Rollback))
    assert rollback.failed_at is not None and rollback.step < rollback.failed_at
    assert not h.errors


def test_exception_in_worker_is_reported_and_run_stays_usable(worker, monkeypatch):
    from ebm_studio.core.trainer import Trainer

    h = worker().start()
    original = Trainer.step

    def broken(self):
        raise RuntimeError("boom in step")

    monkeypatch.setattr(Trainer, "step", broken)
    h.thread.send(SetPlaying(True))
    h.wait(lambda: bool(h.errors))
    h.wait_state("paused")
    assert "boom in step" in h.errors[0]
    monkeypatch.setattr(Trainer, "step", original)
    h.thread.send(StepOnce())
    h.wait_step(1)
    assert h.thread.isRunning()


def test_bad_reset_keeps_the_old_run(worker, small_config):
    h = worker().start()
    h.thread.send(StepOnce())
    h.wait_step(1)
    bad = small_config(**{"data.name": "drawn"})  # "drawn" without points: a DataError
    h.thread.send(Reset(bad, None))
    h.wait(lambda: bool(h.errors))
    h.thread.send(StepOnce())
    h.wait_step(2)  # the old run continues where it was
    assert len(h.resets) == 1


def test_reset_with_points_trains_on_them(worker, small_config):
    h = worker().start()
    pts = np.random.default_rng(0).normal(1.0, 0.2, size=(300, 2))
    since = len(h.frames)
    h.thread.send(Reset(small_config(**{"data.name": "drawn"}), pts))
    h.wait(lambda: any(s.static is not None for s in h.snapshots[since:]))
    first = next(s for s in h.snapshots[since:] if s.static is not None)
    assert len(h.resets) == 2 and first.step == 0
    data = first.static.data
    assert np.allclose(data.mean(0), 1.0, atol=0.1)
    assert first.static.true_log_p is None  # points have no exact density


def test_train_steps_runs_exactly_n_and_reports_progress(worker):
    h = worker().start()
    h.thread.send(TrainSteps(12))
    h.wait(lambda: h.last.step == 12 and h.states[-1] == "paused")
    assert h.last.info.progress == (12, 12)
    assert "training" in h.states


def test_slow_motion_shows_exactly_n_steps_per_frame(worker):
    h = worker().start()
    h.thread.send(SetStepsPerFrame(3))
    h.thread.send(SetPlaying(True))
    h.wait(lambda: h.last.step >= 12)
    h.thread.send(SetPlaying(False))
    playing = [f.step for f in h.frames[1:] if f.info.state == "playing"]
    assert playing and all(step % 3 == 0 for step in playing)


def test_sample_mode_freezes_the_model(worker):
    h = worker().start()
    h.thread.send(TrainSteps(3))
    h.wait(lambda: h.last.step == 3 and h.last.arms[0].energy is not None)
    trained = h.last.arms[0].energy  # the trained model's grid, before any sampling
    sampler = Config().sampler
    h.thread.send(SampleMode(enabled=True, n_chains=500, start="noise", sampler=sampler))
    h.thread.send(SetPlaying(True))
    h.wait(lambda: h.last.info.mode == "sample" and h.last.arms[0].sample.steps >= 5)
    snap = h.last.arms[0]
    assert snap.step == 3  # no optimizer step while sampling
    assert snap.chains.shape == (500, 2)
    assert snap.trails is not None and snap.trails.shape[0] == 8
    # A sampler edit makes the worker compute the grid anew, after these sampler steps.
    done = snap.sample.steps
    h.thread.send(SampleMode(enabled=True, n_chains=500, start="noise", sampler=sampler))

    def grid_after_sampling():
        later = (f.arms[0] for f in h.frames if f.info.mode == "sample")
        return next(
            (s.energy for s in later if s.energy is not None and s.sample.steps > done), None
        )

    h.wait(lambda: grid_after_sampling() is not None)
    later = grid_after_sampling()
    assert later is not trained  # a grid computed anew, not the trained one passed on
    assert np.array_equal(trained, later)  # the landscape did not move
    h.thread.send(SampleMode(enabled=False))
    h.thread.send(SetPlaying(False))
    h.wait_state("paused")


def test_trails_only_where_chains_continue(small_config):
    assert trails_follow_chains(small_config())
    assert not trails_follow_chains(small_config(**{"objective.start": "buffer"}))
    assert not trails_follow_chains(small_config(**{"buffer.size": 128}))


def test_move_device_keeps_the_run_and_save_writes_a_checkpoint(worker, tmp_path):
    from ebm_studio import load_checkpoint

    h = worker().start()
    h.thread.send(TrainSteps(4))
    h.wait_step(4)
    h.thread.send(MoveDevice("cpu"))
    h.wait(lambda: len(h.resets) == 2)
    assert h.resets[-1].base.train.device == "cpu"
    path = tmp_path / "run.safetensors"
    with h.qtbot.waitSignal(h.thread.saved, timeout=60_000):
        h.thread.send(Save(str(path)))
    loaded = load_checkpoint(path)
    assert loaded.step == 4  # the move kept the weights, optimizer and step count
    e = loaded.energy(torch.zeros(3, 2))
    assert e.shape == (3,) and torch.isfinite(e).all()
