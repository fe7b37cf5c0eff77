"""Train a shipped preset once per test session (cached), through the CLI as a user would.

CI trains each shipped preset on ONE dataset (``CI_DATASET``) and checks it against the bound
its file documents for that dataset; every assertion about a preset shares that one run. The
datasets alternate so that both the 8 Gaussians (isolated modes: mixing, mode weights) and the
rings (thin curved support: resolution) are fitted by MCMC and by MCMC-free objectives alike;
a second dataset of the same preset would test nothing those runs do not.
"""

from __future__ import annotations

import csv
import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ebm_studio.cli import main
from ebm_studio.core.checkpoint import restore_trainer
from ebm_studio.core.presets import Preset, load_preset


@functools.cache
def _root() -> Path:
    """One folder for this session's runs, made on first use (not when a fast test imports
    ``CI_DATASET``)."""
    return Path(tempfile.mkdtemp(prefix="ebm-preset-runs-"))


@dataclass(frozen=True)
class PresetRun:
    preset: Preset
    dataset: str
    out: Path
    seconds: float
    cpu_seconds: float  # CPU time of this process: less swayed by other jobs than wall time
    rows: tuple[dict[str, float], ...]  # metrics.csv rows that carry exact metrics
    extra: tuple[str, ...] = ()  # the CLI arguments of another arm of the preset

    @property
    def arm(self) -> str:
        """The overrides of this arm (``key=value, ...``), empty for the preset itself."""
        return ", ".join(a for a in self.extra if a != "--set")

    @property
    def final(self) -> dict[str, float]:
        return self.rows[-1]

    def trainer(self):
        return restore_trainer(self.out / "checkpoint.safetensors")


_COMPLETED: list[PresetRun] = []

# The one dataset each shipped (non-experiment) preset trains on in CI.
CI_DATASET = {
    "cd": "rings",
    "pcd": "8gaussians",
    "buffer-ml": "rings",
    "buffer-truecd": "8gaussians",
    "short-run": "8gaussians",
    "nce": "rings",
    "fce": "8gaussians",
    "snl": "rings",
    "sm": "8gaussians",
    "dsm": "rings",
    "ssm": "8gaussians",
}

# Largest change of the grid log Z allowed when the grid resolution doubles (nats). The metric
# grid integrates exp(-E) by the midpoint rule; for a density that decays inside the box, a
# feature of width s (a Gaussian bump) is integrated with a relative error of about
# 2 exp(-2 pi^2 s^2 / h^2) (Poisson summation) for cell width h, below 2e-3 once s > 0.6 h.
# The default grid (200 cells on the 9-wide box: h = 0.045) resolves every feature wider than
# 0.027, and the data's narrowest (the rings' radial std) is 0.1; a model whose log Z moves
# by more has spikes the metric grid cannot see, and its KL would not be exact.
DOUBLING_LOG_Z_TOL = 2e-3


def completed_runs() -> list[PresetRun]:
    return list(_COMPLETED)


def ci_run(name: str) -> PresetRun:
    """The CI run of a shipped preset: trained once, on ``CI_DATASET[name]``."""
    return train_preset(name, CI_DATASET[name])


_REFINED: dict[Path, tuple[dict[str, float], dict[str, float]]] = {}


def refined_evaluation(run: PresetRun) -> tuple[dict[str, float], dict[str, float]]:
    """The restored model's exact metrics on the run's own grid and on one of twice the
    resolution (cached per run)."""
    if run.out not in _REFINED:
        tr = run.trainer()
        res = tr.config.train.grid_res
        _REFINED[run.out] = (tr.evaluate(res), tr.evaluate(2 * res))
    return _REFINED[run.out]


def check_grid_normaliser(run: PresetRun) -> None:
    """The restored model reproduces the run's last evaluation, doubling the grid resolution
    moves log Z by less than ``DOUBLING_LOG_Z_TOL``, and the KL on the finer grid still meets
    the documented bound (the bound does not rest on quadrature error)."""
    coarse, fine = refined_evaluation(run)
    label = f"{run.preset.name} on {run.dataset}"
    # same weights, same grid: only the summation order may differ (float32 energies, float64
    # sums), far below 1e-4
    assert abs(coarse["log_z_grid"] - run.final["log_z_grid"]) < 1e-4, label
    change = abs(fine["log_z_grid"] - coarse["log_z_grid"])
    assert change < DOUBLING_LOG_Z_TOL, f"{label}: log Z moved {change:.4f} nats at 2x grid"
    if not run.extra:
        assert fine["kl"] <= run.preset.kl_bound[run.dataset], label


@functools.cache
def train_preset(name: str, dataset: str, *extra: str) -> PresetRun:
    # Extra CLI arguments train a different arm of the same preset: give it its own folder.
    tag = "".join(c if c.isalnum() or c in "._=-" else "_" for c in "-".join(extra))
    out = _root() / (f"{name}-{dataset}" + (f"-{tag}" if tag else ""))
    t0, c0 = time.perf_counter(), time.process_time()
    args = ["train", name, "--set", f"data.name={dataset}", *extra, "--out", str(out)]
    assert main(args) == 0, f"training {name} on {dataset} failed"
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    with open(out / "metrics.csv") as f:
        rows = tuple(
            {k: float(v) for k, v in r.items() if v != ""}
            for r in csv.DictReader(f)
            if r.get("log_z_grid")
        )
    run = PresetRun(load_preset(name), dataset, out, seconds, cpu_seconds, rows, tuple(extra))
    _COMPLETED.append(run)
    return run
