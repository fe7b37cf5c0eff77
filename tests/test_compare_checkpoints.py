"""Compare mode on two checkpoints (README.md, Compare mode): each arm continues its own
checkpoint (weights, optimizer, settings, history) and the pair trains on in lock-step; two
checkpoints that do not share data and seed are refused in one sentence, nothing changed."""

from __future__ import annotations

import pytest
import torch

from ebm_studio.core.arm_checkpoints import restore_group
from ebm_studio.core.checkpoint import (
    CheckpointError,
    LoadedModel,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from ebm_studio.core.trainer import Trainer

BATCH = torch.linspace(-3, 3, 64).reshape(32, 2)  # a fixed batch of points in the box


def energies(trainer) -> torch.Tensor:
    return LoadedModel(trainer).energy(BATCH)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two tiny runs on the same data and seed with different settings (so different weights),
    at different steps, and one on another seed."""
    from conftest import tiny_config

    out = tmp_path_factory.mktemp("arms")
    made = {}
    for name, steps, over in (
        ("a", 3, {}),
        ("b", 5, {"sampler.step_size": 0.05, "optim.lr": 0.01}),
        ("seed1", 3, {"train.seed": 1}),
    ):
        t = Trainer(tiny_config(**{"train.eval_every": 2, **over}))
        t.train(steps)
        save_checkpoint(t, out / f"{name}.safetensors")
        made[name] = out / f"{name}.safetensors"
    return made


def test_group_restores_each_arm_from_its_checkpoint(checkpoints):
    a, b = load_checkpoint(checkpoints["a"]), load_checkpoint(checkpoints["b"])
    assert not torch.equal(a.energy(BATCH), b.energy(BATCH))  # the test can tell them apart
    g = restore_group([checkpoints["a"], checkpoints["b"]])
    assert torch.equal(energies(g.trainers[0]), a.energy(BATCH))
    assert torch.equal(energies(g.trainers[1]), b.energy(BATCH))
    assert [t.step_count for t in g.trainers] == [3, 5]
    assert [len(t.history) for t in g.trainers] == [len(a.trainer.history), len(b.trainer.history)]
    # arm B = arm A with B's differences: Reset rebuilds exactly these settings
    assert dict(g.overrides[1]) == {"sampler.step_size": 0.05, "optim.lr": 0.01}
    assert g.trainers[1].config == read_checkpoint(checkpoints["b"]).config
    g.step()  # the pair trains on from there
    assert [t.step_count for t in g.trainers] == [4, 6]


def test_checkpoints_on_another_seed_or_unreadable_are_refused(checkpoints, tmp_path):
    with pytest.raises(CheckpointError, match=r"train\.seed is 0 in arm A and 1 in arm B"):
        restore_group([checkpoints["a"], checkpoints["seed1"]])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"^Arm B: .*bad\.safetensors: is not"):
        restore_group([checkpoints["a"], bad])


def test_compare_window_opens_two_checkpoints_as_its_arms(compare, wait, checkpoints):
    w = compare("sampler.step_size=0.02")
    loaded: list = []
    w.controller.checkpoints_loaded.connect(loaded.append)
    w.open_checkpoints(checkpoints["a"], checkpoints["b"])
    wait(lambda: bool(loaded) and w.controller.state == "paused")
    ta, tb = w.controller.thread.trainers
    assert torch.equal(energies(ta), load_checkpoint(checkpoints["a"]).energy(BATCH))
    assert torch.equal(energies(tb), load_checkpoint(checkpoints["b"]).energy(BATCH))
    assert (ta.step_count, tb.step_count) == (3, 5)
    assert w.overrides_edit.text() == "sampler.step_size=0.05, optim.lr=0.01"
    assert w.controller.config.sampler.step_size == 0.01  # arm A's settings are the base
    assert "Opened checkpoints" in w.statusBar().currentMessage()
    w.controller.step_once()  # lock-step continues both from their checkpoints
    wait(lambda: w.last_frame.arms[1].step == 6)
    assert w.last_frame.arms[0].step == 4


def test_compare_window_refuses_a_pair_on_another_seed(compare, wait, checkpoints):
    w = compare("sampler.step_size=0.02")
    before = w.controller.thread.trainers
    failed: list[str] = []
    w.controller.file_failed.connect(failed.append)
    w.open_checkpoints(checkpoints["a"], checkpoints["seed1"])
    wait(lambda: bool(failed))
    assert "train.seed" in w.statusBar().currentMessage()
    assert w.controller.thread.trainers == before  # the running pair is untouched
    assert w.overrides_edit.text() == "sampler.step_size=0.02"
