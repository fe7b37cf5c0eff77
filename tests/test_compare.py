"""Compare mode's core: two trainers on the same data and seed, stepped in lock-step."""

from __future__ import annotations

import pytest
import torch

from ebm_studio.core.compare import CompareRun, arm_b_config, describe_differences
from ebm_studio.core.config import Config, ConfigError
from ebm_studio.core.overrides import format_assignments, parse_assignments


@pytest.fixture
def small(small_config):
    """The shared tiny config with chains from the data and exact metrics every 4 steps."""

    def make(**over) -> Config:
        return small_config(**{"objective.start": "data", "train.eval_every": 4, **over})

    return make


def params(t) -> list[torch.Tensor]:
    return [p.detach().clone() for p in t.model.parameters()]


def poison(trainer) -> None:
    """Make ``trainer``'s next loss NaN: its next step diverges."""
    real_loss = trainer.objective.loss

    def nan_loss(x):
        loss, parts = real_loss(x)
        return loss * float("nan"), parts

    trainer.objective.loss = nan_loss


def without_timing(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rows]


@pytest.mark.parametrize("objective", ["mcmc", "nce"])
def test_identical_arms_give_bitwise_identical_results(objective, small):
    run = CompareRun(small(**{"objective.name": objective}))
    run.step(9)
    a, b = run.arms
    assert a.step_count == b.step_count == 9
    assert all(torch.equal(x, y) for x, y in zip(params(a), params(b)))
    assert without_timing(a.history) == without_timing(b.history)
    assert any("kl" in r for r in a.history)  # the exact metrics were compared too
    assert run.titles == ("identical settings", "identical settings")


def test_different_objectives_both_advance_on_the_same_data(small):
    run = CompareRun(small(), "objective.name=nce, objective.nu=4")
    a, b = run.arms
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_x, b.test_x)
    start_a, start_b = params(a), params(b)
    # Same seed and model section: the arms start from the same weights.
    assert all(torch.equal(x, y) for x, y in zip(start_a, start_b))
    rows_a, rows_b = run.step(6)
    assert a.step_count == b.step_count == run.step_count == 6
    assert rows_a["step"] == rows_b["step"] == 6.0
    for before, t in ((start_a, a), (start_b, b)):
        assert not all(torch.equal(x, y) for x, y in zip(before, params(t)))
    # ... and they learned different things.
    assert not all(torch.equal(x, y) for x, y in zip(params(a), params(b)))
    assert a.config.objective.name == "mcmc" and b.config.objective.name == "nce"
    assert run.titles == (
        "objective.name=mcmc, objective.nu=1",
        "objective.name=nce, objective.nu=4",
    )
    frame = run.snapshot(res=16)
    fa, fb = frame.arms
    assert frame.step == 6 and fa.energy.shape == fb.energy.shape == (16, 16)
    assert (
        [r["step"] for r in fa.rows]
        == [r["step"] for r in fb.rows]
        == list(map(float, range(1, 7)))
    )


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ("objective.nam=nce", ["arm B", "unknown key 'objective.nam'", "name, start"]),
        ("objective.name=foo", ["arm B", "objective.name = 'foo'", "'mcmc', 'nce'"]),
        ("sampler.step_size=0.02, optim.lr=5", ["arm B", "optim.lr = 5", "[1e-07, 1]"]),
        ("objective.name", ["arm B", "'objective.name' is not of the form section.key=value"]),
        ("data.name=rings", ["arm B", "'data.name' cannot differ", "same data and seed"]),
        ("train.seed=3", ["arm B", "'train.seed' cannot differ"]),
    ],
)
def test_a_bad_override_is_one_sentence_and_builds_nothing(overrides, names, monkeypatch, small):
    import ebm_studio.core.group as group

    built = []
    monkeypatch.setattr(group, "Trainer", lambda *a, **k: built.append(a))
    base = small()
    with pytest.raises(ConfigError) as err:
        CompareRun(base, overrides)
    message = str(err.value)
    for name in names:
        assert name in message, message
    assert "\n" not in message and message.count(". ") == 0, message
    assert built == []  # validated before either trainer was built
    assert base == small()


def test_override_text_round_trips(small):
    pairs = parse_assignments("objective.name=nce,  sampler.step_size=0.02 view.contours=true")
    assert pairs == (
        ("objective.name", "nce"),
        ("sampler.step_size", 0.02),
        ("view.contours", True),
    )
    assert parse_assignments(format_assignments(pairs)) == pairs
    cfg = arm_b_config(small(), pairs)
    assert cfg.objective.name == "nce" and cfg.sampler.step_size == 0.02
    assert describe_differences(small(), cfg)[1] == (
        "objective.name=nce, sampler.step_size=0.02, view.contours=true"
    )


def test_a_diverging_arm_rolls_both_back_to_the_same_step(small):
    run = CompareRun(small(**{"train.guard_every": 4}), "sampler.step_size=0.02")
    run.step(5)
    poison(run.b)
    with pytest.raises(RuntimeError, match="Arm B: Training diverged at step 5"):
        run.step()
    assert run.in_step and run.a.step_count == run.b.step_count == 4
    # Arm A is exactly where an undisturbed run of 4 steps is.
    ref = CompareRun(small(**{"train.guard_every": 4}), "sampler.step_size=0.02")
    ref.step(4)
    assert all(torch.equal(x, y) for x, y in zip(params(run.a), params(ref.a)))
    # Both histories went back too: no row of the undone step 5 in either arm.
    for arm in (run.a, run.b):
        assert max(r["step"] for r in arm.history) == 4


def test_cli_compare_prints_both_arms_side_by_side(capsys, small_args):
    import json

    from ebm_studio.cli import main

    args = [
        "compare",
        "cd",
        "--set-b",
        "objective.name=nce",
        "--steps",
        "4",
        *small_args(**{"train.eval_every": 3}),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "A: objective.name=mcmc" in out and "B: objective.name=nce" in out
    step_line = next(line.split() for line in out.splitlines() if line.split()[0] == "step")
    assert step_line == ["step", "4", "4"]
    assert "kl" in out and "log_z_error" in out
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["A"]["metrics"]["step"] == result["B"]["metrics"]["step"] == 4
    assert "log_z_error" in result["B"]["metrics"] and "log_z_error" not in result["A"]["metrics"]
    # A bad override: one sentence naming the key, exit code 2, nothing trained.
    assert main(["compare", "cd", "--set-b", "objective.nam=nce", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "arm B: unknown key 'objective.nam'" in err and "comparing" not in err


def test_a_group_of_three_arms_steps_and_rolls_back_together(small):
    """The lock-step group is not limited to two arms (a sweep shows many): every arm trains
    the same data, and a divergence in one takes all of them back to the same step."""
    from ebm_studio.core.frames import Rollback
    from ebm_studio.core.group import ArmDiverged, RunGroup

    arms = ((), (("sampler.step_size", 0.02),), (("objective.name", "nce"),))
    group = RunGroup(small(**{"train.guard_every": 4}), arms)
    assert group.names == ("A", "B", "C") and len(group.titles) == 3
    group.step(5)
    assert [t.step_count for t in group.trainers] == [5, 5, 5]
    assert all(torch.equal(group.trainers[0].train_x, t.train_x) for t in group.trainers)
    poison(group.trainers[1])
    with pytest.raises(ArmDiverged, match="Arm B: .* every arm is back at step 4"):
        group.step()
    assert group.in_step and [t.step_count for t in group.trainers] == [4, 4, 4]
    followers = [group.trainers[0], group.trainers[2]]
    assert all(t.events[-1] == Rollback(4, with_arm="B") for t in followers)
    frame = group.snapshot(res=8)
    assert len(frame.arms) == 3 and all(s.step == 4 for s in frame.arms)
