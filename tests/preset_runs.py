"""Train a shipped preset once per test session (cached), through the CLI as a user would."""

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

_ROOT = Path(tempfile.mkdtemp(prefix="ebm-preset-runs-"))


@dataclass(frozen=True)
class PresetRun:
    preset: Preset
    dataset: str
    out: Path
    seconds: float
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


def completed_runs() -> list[PresetRun]:
    return list(_COMPLETED)


@functools.cache
def train_preset(name: str, dataset: str, *extra: str) -> PresetRun:
    # Extra CLI arguments train a different arm of the same preset: give it its own folder.
    tag = "".join(c if c.isalnum() or c in "._=-" else "_" for c in "-".join(extra))
    out = _ROOT / (f"{name}-{dataset}" + (f"-{tag}" if tag else ""))
    t0 = time.perf_counter()
    args = ["train", name, "--set", f"data.name={dataset}", *extra, "--out", str(out)]
    assert main(args) == 0, f"training {name} on {dataset} failed"
    seconds = time.perf_counter() - t0
    with open(out / "metrics.csv") as f:
        rows = tuple(
            {k: float(v) for k, v in r.items() if v != ""}
            for r in csv.DictReader(f)
            if r.get("log_z_grid")
        )
    run = PresetRun(load_preset(name), dataset, out, seconds, rows, tuple(extra))
    _COMPLETED.append(run)
    return run
