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


def test_an_experiment_trial_reports_its_claim_and_the_summary_spreads_it(tmp_path):
    """An exp-* preset's trials carry its claim's measurement (core.claims: here the learned
    mixing weights' total variation), and summary.csv gives its mean and sd over seeds."""
    import statistics

    from ebm_studio.core.presets import load_preset
    from ebm_studio.sweep.results import summary_csv

    base = load_preset("exp-sm-weights").config.with_value("train.steps", 30)
    spec = build_spec(base, [], [0, 1], preset="exp-sm-weights")
    records = {}
    for t in spec.trials():
        result = run_trial(t.config(spec.base).to_dict(), "exp-sm-weights")
        assert result["status"] == "ok", result["cause"]
        assert 0.0 <= result["metrics"]["weights_tv"] <= 1.0  # a total variation
        records[t.id] = write_trial(tmp_path, t, result, attempts=1)
    rows = list(csv.DictReader(io.StringIO(sweep_csv([], spec.trials(), records))))
    tv = [float(r["weights_tv"]) for r in rows]
    assert tv[0] != tv[1]  # seeds train differently
    (summary,) = csv.DictReader(io.StringIO(summary_csv([], spec.trials(), records)))
    assert float(summary["weights_tv_mean"]) == pytest.approx(statistics.fmean(tv), rel=1e-12)
    assert float(summary["weights_tv_sd"]) == pytest.approx(statistics.stdev(tv), rel=1e-12)
