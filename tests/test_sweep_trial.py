"""A sweep trial that fails is recorded with its cause (README.md, Sweeps): the trial function
and the sweep tables, without Ray."""

from __future__ import annotations

import csv
import io

import pytest

from ebm_studio.core.trainer import Diverged, Trainer
from ebm_studio.sweep.results import is_complete, read_record, sweep_csv, write_trial
from ebm_studio.sweep.spec import build_spec
from ebm_studio.sweep.trial import run_trial


@pytest.fixture
def spec(small_config):
    return build_spec(small_config(**{"train.steps": 3}), ["objective.alpha=0.1,0.2"], [0])


@pytest.mark.parametrize(
    ("raised", "status", "cause", "complete"),
    [
        (RuntimeError("boom in step"), "failed", "RuntimeError: boom in step", False),
        (Diverged("loss is nan", 2, 1), "diverged", "Training diverged at step 2", True),
    ],
)
def test_a_failing_trial_is_recorded_with_its_cause(
    spec, tmp_path, monkeypatch, raised, status, cause, complete
):
    def fail(self):
        raise raised

    monkeypatch.setattr(Trainer, "step", fail)
    bad, good = spec.trials()
    result = run_trial(bad.config(spec.base).to_dict())
    assert result["status"] == status and cause in result["cause"]
    # a diverged run leaves its last good checkpoint, as `ebm-studio train` does
    assert ("checkpoint.safetensors" in result["files"]) == (status == "diverged")
    write_trial(tmp_path, bad, result, attempts=1)
    record = read_record(tmp_path, bad.id)
    assert is_complete(record) is complete  # an exception is run again on resume
    rows = list(csv.DictReader(io.StringIO(sweep_csv(["objective.alpha"], spec.trials(), {
        bad.id: record, good.id: None,
    }))))  # fmt: skip
    assert [r["status"] for r in rows] == [status, "pending"]
    assert cause in rows[0]["cause"]
