"""``train.stop_at_kl`` (stop at the first evaluation whose exact KL reaches the value),
``optim.warmup`` and the trainer's steps/s without evaluation time."""

from __future__ import annotations

import math

from ebm_studio.core import trainer as trainer_module
from ebm_studio.core.group import RunGroup
from ebm_studio.core.trainer import Trainer
from ebm_studio.worker.commands import SetPlaying

# Any untrained model is within 100 nats of the truth on a 9 x 9 box (KL <= log of the
# box area + the data's negative entropy is a few nats), so 100 is reached at the first
# evaluation; 1e-6 nats is never reached by a few steps of a tiny network.
REACHED, NEVER = 100.0, 1e-6


def test_training_stops_at_the_first_evaluation_under_the_bound(small_config):
    t = Trainer(small_config(**{"train.eval_every": 5, "train.stop_at_kl": REACHED}))
    t.train(40)
    assert t.step_count == 5 and t.kl_reached_at == 5 and t.stop_requested
    assert t.history[-1]["kl"] <= REACHED


def test_an_unreached_or_unset_bound_trains_every_step(small_config):
    for bound in (0.0, NEVER):
        t = Trainer(small_config(**{"train.eval_every": 5, "train.stop_at_kl": bound}))
        t.train(12)
        assert t.step_count == 12 and not t.stop_requested


def test_a_new_bound_arms_the_stop_again(small_config):
    cfg = small_config(**{"train.eval_every": 5, "train.stop_at_kl": REACHED})
    g = RunGroup(cfg)
    g.train(40)
    assert g.step_count == 5 and g.stop_requested
    g.apply_config(cfg.with_value("train.stop_at_kl", 99.0))
    assert not g.stop_requested
    g.train(40)
    assert g.step_count == 10 and "99" in g.stop_message()


def test_worker_pauses_once_at_the_bound_and_says_so(worker, small_config):
    cfg = small_config(**{"train.eval_every": 5, "train.stop_at_kl": REACHED})
    h = worker(cfg)
    messages: list[str] = []
    h.thread.bound_reached.connect(messages.append)
    h.start()
    h.thread.send(SetPlaying(True))
    h.wait(lambda: bool(messages))
    h.wait_state("paused")
    h.wait(lambda: h.last.info.state == "paused")
    assert h.last.step == 5
    assert "step 5" in messages[0] and "stop_at_kl" in messages[0]
    # Play again: the run continues past the bound it already reached.
    h.thread.send(SetPlaying(True))
    h.wait(lambda: h.last.step >= 15)
    assert len(messages) == 1 and not h.errors


def test_warmup_ramps_the_learning_rate_linearly(small_config):
    t = Trainer(small_config(**{"optim.lr": 1e-3, "optim.warmup": 10}))
    assert math.isclose(t.lr_at(0), 1e-4)
    assert math.isclose(t.lr_at(4), 5e-4)
    assert math.isclose(t.lr_at(9), 1e-3) and math.isclose(t.lr_at(500), 1e-3)
    off = Trainer(small_config(**{"optim.lr": 1e-3}))
    assert math.isclose(off.lr_at(0), 1e-3)


def test_steps_per_s_leaves_out_the_evaluation(small_config, monkeypatch):
    # A fake clock that only evaluations advance (by 10 s): a step then takes no time, so
    # every row's steps/s is huge unless the evaluation's 10 s leaked into some step's time.
    clock = [0.0]
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: clock[0])
    t = Trainer(small_config(**{"train.eval_every": 2}))
    evaluate = t.evaluate

    def slow_evaluate(*a, **k):
        clock[0] += 10.0
        return evaluate(*a, **k)

    monkeypatch.setattr(t, "evaluate", slow_evaluate)
    t.train(6)
    assert all(r["steps_per_s"] > 1.0 for r in t.history)


def test_the_settings_tree_offers_stop_when_kl_reaches(qapp, small_config):
    from ebm_studio.gui.controller import Controller
    from ebm_studio.gui.controls import ControlsPanel

    controller = Controller(small_config())
    try:
        panel = ControlsPanel(controller)
        param = panel.param("train.stop_at_kl")
        assert param.opts["title"].startswith("stop when KL reaches")
        param.setValue(0.05)
        assert controller.config.train.stop_at_kl == 0.05
    finally:
        controller.shutdown()


def test_cli_train_stops_at_the_bound_and_writes_its_outputs(tmp_path, capsys):
    import csv

    from ebm_studio.cli import main

    sets = [
        "train.steps=50",
        "train.eval_every=10",
        f"train.stop_at_kl={REACHED}",
        "model.width=16",
        "data.n_train=500",
        "data.n_test=200",
        "train.grid_res=32",
    ]
    args = ["train", "nce", "--out", str(tmp_path)] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    with open(tmp_path / "metrics.csv") as f:
        steps = [float(r["step"]) for r in csv.DictReader(f)]
    assert max(steps) == 10
    assert "stopped at step 10" in capsys.readouterr().err
