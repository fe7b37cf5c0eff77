"""bench/time_to_fit.py: the fit point and one tiny headless + studio run through its CLI."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "time_to_fit.py"


@pytest.fixture(scope="module")
def ttf():
    spec = importlib.util.spec_from_file_location("time_to_fit", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fit_point_is_where_the_kl_enters_the_bound_for_good(ttf):
    evals = [(10, 1.0, 0.5), (20, 2.0, 0.04), (30, 3.0, 0.06), (40, 4.0, 0.04), (50, 5.0, 0.03)]
    assert ttf.fit_point(evals, 0.05) == (40, 4.0)  # not 20: it left the bound at 30
    step, seconds = ttf.fit_point(evals[:3], 0.05)  # out of the bound at the end: not fitted
    assert step == -1 and math.isnan(seconds)
    assert ttf.fit_point(evals, None)[0] == -1


def test_every_ml_preset_gets_the_target_on_undocumented_data(ttf):
    from ebm_studio.core.presets import load_preset

    assert ttf.bound_for(load_preset("snl"), "spirals") == ttf.ML_TARGET
    assert ttf.bound_for(load_preset("sm"), "spirals") is None
    assert ttf.bound_for(load_preset("sm"), "rings") == load_preset("sm").kl_bound["rings"]
    from ebm_studio.core.config import DATASETS

    assert set(ttf.EXACT_DATASETS) < set(DATASETS)


def test_tiny_run_reports_headless_and_studio_times(ttf, tmp_path, qapp):
    out = tmp_path / "ttf.json"
    tiny = ["model.width=16", "model.depth=2", "data.n_train=500", "data.n_test=200",
            "train.steps=20", "train.grid_res=32", "view.resolution=32"]  # fmt: skip
    args = ["--presets", "nce", "--datasets", "8gaussians", "--eval-every", "10"]
    args += ["--bound", "100", "--json", str(out)] + [a for s in tiny for a in ("--set", s)]
    ttf.main(args)
    r = json.loads(out.read_text())["time_to_fit"]["nce"]["8gaussians"]
    # Any model is within 100 nats at the first evaluation, so the fit point is step 10.
    assert r["steps"] == 10 and r["trained_steps"] == 20
    assert r["seconds"] > 0 and r["studio_seconds"] > 0 and r["final_kl"] < 100
