"""ebm-studio sweep's bad input (README.md, Sweeps): one sentence naming the value and what is
allowed, exit code 2, Ray never started, nothing in the folder touched. No Ray runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL

from ebm_studio.cli import main
from ebm_studio.core.presets import load_preset

ray = pytest.importorskip("ray")

SETS = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")]


def sweep_argv(out: Path, *extra: str) -> list[str]:
    return ["sweep", "pcd", "--out", str(out), *SETS, "--steps", "20", *extra]


def spec_for(grid: str, seeds: list[int]):
    from ebm_studio.sweep.cli import base_config
    from ebm_studio.sweep.spec import build_spec

    _, cfg = base_config("pcd", [f"{k}={v}" for k, v in SMALL.items()], 20)
    return build_spec(cfg, [grid], seeds, preset="pcd")


def made_sweep(tmp_path: Path) -> Path:
    """A folder holding another sweep's manifest and a file that must survive a refusal."""
    out = tmp_path / "other"
    out.mkdir()
    spec = spec_for("objective.alpha=0.3,0.4", [0])
    (out / "sweep.json").write_text(json.dumps(spec.manifest()))
    (out / "sweep.csv").write_text("keep me\n")
    return out


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--grid", "model.widht=8,16"], "model.widht"),
        (["--grid", "sampler.step_size=0.01,100"], "100"),
        (["--grid", "sampler.step_size="], "empty"),
        (["--grid", "sampler.step_size=log:1e-2:1e-4:3"], "log:1e-2:1e-4"),
        (["--seeds", "4-1"], "4-1"),
        (["--address", "127.0.0.1:9"], "127.0.0.1:9"),
        (["--grid", "objective.alpha=0.5"], "different sweep"),
    ],
)
def test_bad_input_is_one_sentence_and_starts_nothing(extra, named, tmp_path, capsys):
    out = made_sweep(tmp_path) if named == "different sweep" else tmp_path / "new"
    before = {p.name: p.read_bytes() for p in out.iterdir()} if out.exists() else None
    assert not ray.is_initialized()
    assert main(sweep_argv(out, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and named in err and len(err.splitlines()) == 1
    assert not ray.is_initialized()
    after = {p.name: p.read_bytes() for p in out.iterdir()} if out.exists() else None
    assert after == before


def test_preset_default_steps_need_no_grid(tmp_path):
    from ebm_studio.sweep.spec import build_spec

    spec = build_spec(load_preset("pcd").config, [], [0, 1, 2])
    assert [t.seed for t in spec.trials()] == [0, 1, 2]
    assert [t.overrides for t in spec.trials()] == [(), (), ()]


@pytest.mark.parametrize(
    ("param", "named"),
    [
        ("sampler.step_size=log:1e-2:1e-4", "log:1e-2:1e-4"),
        ("sampler.step_size=log:0:1e-2", "log:0:1e-2"),
        ("sampler.step_size=log:1e-4:50", "50"),
        ("optim.lrr=log:1e-4:1e-2", "optim.lrr"),
        ("sampler.step_size=lin:1e-4", "lin:1e-4"),
    ],
)
def test_tune_bad_range_is_refused_before_ray(param, named, tmp_path, capsys):
    out = tmp_path / "tune"
    argv = ["tune", "pcd", "--param", param, "--trials", "2", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and named in err and len(err.splitlines()) == 1
    assert not ray.is_initialized() and not out.exists()
