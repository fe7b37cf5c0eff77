"""Curves that move: coarse-grid KL/NLL at least once a second of training time."""

from __future__ import annotations

import pytest

from ebm_studio.core.trainer import Trainer
from ebm_studio.worker.commands import SetPlaying
from ebm_studio.worker.live_metrics import LIVE_INTERVAL_S, LiveMetrics, live_metrics


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def trainer():
    from tests.conftest import tiny_config

    return Trainer(tiny_config(**{"train.eval_every": 10}))


def test_a_live_point_every_second_of_training_not_every_step(trainer):
    clock = FakeClock()
    live = LiveMetrics(clock=clock)
    step_s = 0.1  # a studio step takes 20-100 ms: several steps per point
    times = []
    for _ in range(20):
        trainer.step()
        clock.now += step_s
        if live.after_step([trainer]):
            times.append(clock.now)
            assert "kl_live" in trainer.history[-1] and "nll_live" in trainer.history[-1]
        else:
            assert "kl_live" not in trainer.history[-1]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert times[0] == step_s and max(gaps) <= 1.0  # the promise: a point per second
    assert min(gaps) >= LIVE_INTERVAL_S  # and no more often than the interval (the cost)


def test_live_metrics_are_the_exact_metrics_on_a_coarser_grid(trainer):
    full = trainer.evaluate()
    res, n = trainer.config.train.grid_res, len(trainer.test_x)
    same = live_metrics(trainer, res, n)  # same grid, same points: the same numbers
    for k in ("kl", "nll"):
        assert same[f"{k}_live"] == pytest.approx(full[k], abs=1e-5)
    assert same["log_z_live"] == pytest.approx(full["log_z_grid"], abs=1e-5)


def test_a_full_evaluation_step_is_its_own_live_point(trainer):
    live = LiveMetrics(clock=FakeClock())
    while (trainer.step_count + 1) % trainer.config.train.eval_every:
        trainer.step()
    trainer.step()
    assert live.after_step([trainer])
    row = trainer.history[-1]
    assert row["kl_live"] == row["kl"] and row["nll_live"] == row["nll"]


def test_live_points_reach_the_frames_while_playing(worker, small_config):
    h = worker(small_config()).start()
    h.thread.send(SetPlaying(True))

    def live_rows():
        return [r for s in h.snapshots for r in s.rows if "kl_live" in r]

    h.wait(lambda: len(live_rows()) >= 2)
    assert not any("kl" in r for s in h.snapshots for r in s.rows)  # eval_every is huge
    assert all(r["kl_live"] == r["kl_live"] for r in live_rows())  # finite, not NaN
