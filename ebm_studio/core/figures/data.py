"""What a figure draws, as plain data: arrays, the box, the metric rows and the events.

``RunData`` is filled from a trainer (CLI, ``train``), from a ``Snapshot`` plus the rows the
studio keeps (studio export) or by hand (sweeps); the drawing code never sees a trainer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..frames import ConfigChange, Event


@dataclass(frozen=True)
class RunData:
    """One run at one step. ``energy`` is (res, res) over ``[-box, box]^2``, rows = y upward."""

    box: float
    energy: np.ndarray | None = None
    data: np.ndarray | None = None  # (n, 2) training or test points
    chains: np.ndarray | None = None  # (n, 2)
    buffer: np.ndarray | None = None  # (n, 2)
    buffer_age: np.ndarray | None = None  # (n,) steps since each entry was (re)started
    true_log_p: np.ndarray | None = None  # (res, res) exact log-density of the dataset
    history: Sequence[dict[str, float]] = ()
    events: Sequence[Event] = ()
    step: int = 0
    preset: str = ""
    objective: str = ""
    dataset: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # final exact metrics

    @property
    def config_changes(self) -> list[ConfigChange]:
        return [e for e in self.events if isinstance(e, ConfigChange)]

    def has_curves(self) -> bool:
        """At least two finite KL or NLL values: enough for a curve."""
        return any(len(curve_points(self.history, k)) >= 2 for k in ("kl", "nll"))


def log_density(energy: np.ndarray, box: float) -> np.ndarray:
    """log p = -E - log Z on the grid, with log Z from the grid's cells (float64)."""
    e = np.asarray(energy, dtype=np.float64)
    res = e.shape[-1]
    area = (2 * box / res) ** 2
    neg = -e
    top = np.max(neg[np.isfinite(neg)]) if np.isfinite(neg).any() else 0.0
    log_z = top + math.log(np.sum(np.exp(neg - top))) + math.log(area)
    return neg - log_z


def grid_quantity(energy: np.ndarray, box: float, quantity: str) -> np.ndarray:
    """The heatmap's values: the energy, the normalised density or its logarithm."""
    if quantity == "energy":
        return np.asarray(energy, dtype=np.float64)
    lp = log_density(energy, box)
    return np.exp(lp) if quantity == "density" else lp


def curve_points(history: Sequence[dict[str, float]], key: str) -> np.ndarray:
    """(n, 2) array of (step, value) for the rows that hold a finite ``key``."""
    pts = [
        (float(r["step"]), float(r[key]))
        for r in history
        if key in r and "step" in r and math.isfinite(r[key])
    ]
    return np.array(pts, dtype=np.float64).reshape(-1, 2)


def final_metrics(history: Sequence[dict[str, float]]) -> dict[str, float]:
    """The last finite value of each exact metric in ``history``."""
    out: dict[str, float] = {}
    for key in ("kl", "nll", "log_z_error", "mmd"):
        pts = curve_points(history, key)
        if len(pts):
            out[key] = float(pts[-1, 1])
    return out


def run_data_from_trainer(trainer, res: int = 256, preset: str = "") -> RunData:
    """A trainer's current state (model grid, data, chains, buffer, curves, events)."""
    cfg = trainer.config
    obj = trainer.objective
    ch = obj.chains()
    buf = obj.buffer()
    age = getattr(obj, "buffer_age", lambda: None)()
    true_lp = None
    if trainer.dataset.has_density:
        import torch

        from ..metrics import grid_points

        pts, _ = grid_points(trainer.box, res)
        with torch.no_grad():
            true_lp = trainer.dataset.log_prob(pts.double()).reshape(res, res).numpy()
    history = list(trainer.history)
    return RunData(
        box=float(trainer.box),
        energy=trainer.energy_grid(res),
        data=trainer.train_x.cpu().numpy(),
        chains=None if ch is None else ch.cpu().numpy(),
        buffer=None if buf is None else buf.cpu().numpy(),
        buffer_age=None if age is None else age.cpu().numpy(),
        true_log_p=true_lp,
        history=history,
        events=list(trainer.events),
        step=int(trainer.step_count),
        preset=preset or matching_preset(cfg),
        objective=cfg.objective.name,
        dataset=cfg.data.name,
        metrics=final_metrics(history),
    )


def matching_preset(config) -> str:
    """The shipped preset whose model, objective, sampler, buffer and data settings equal
    ``config``'s (a checkpoint does not store its preset's name); "" when none does."""
    from ..config import ConfigError
    from ..presets import list_presets

    keys = ("data", "model", "objective", "sampler", "buffer", "optim")
    mine = config.to_dict()
    try:
        presets = list_presets()
    except ConfigError:  # a broken shipped preset must not break a figure
        return ""
    for p in presets:
        theirs = p.config.to_dict()
        if all(mine[k] == theirs[k] for k in keys):
            return p.name
    return ""


def title_text(run: RunData) -> str:
    """``buffer-ml | mcmc on 8gaussians | step 4000 | KL 0.016 nats, NLL 2.83 nats``."""
    parts = []
    if run.preset:
        parts.append(run.preset)
    what = run.objective + (f" on {run.dataset}" if run.dataset else "")
    if what:
        parts.append(what)
    parts.append(f"step {run.step}")
    m = [
        f"{name} {run.metrics[key]:.3g} nats"
        for key, name in (("kl", "KL"), ("nll", "NLL"))
        if key in run.metrics
    ]
    if m:
        parts.append(", ".join(m))
    return " | ".join(parts)


TITLE_LINE = 110  # characters that fit one line of a double-column figure's title


def compare_title(runs: Sequence[RunData], labels: Sequence[str]) -> str:
    """One title for any number of arms: what they share once, then each arm's own parts,
    ``8gaussians | step 4000 | A: cd, KL 0.2 nats vs B: pcd, KL 0.05 nats vs C: ...``."""
    parts = [title_text(r).split(" | ") for r in runs]
    if len(parts) == 1:
        return " | ".join(parts[0])
    common = [p for p in parts[0] if all(p in q for q in parts[1:])]
    own = [
        f"{label}: " + (" | ".join(p for p in q if p not in common) or "same")
        for label, q in zip(labels, parts)
    ]
    one_line = " | ".join([*common, " vs ".join(own)])
    if len(one_line) <= TITLE_LINE:
        return one_line
    return "\n".join([" | ".join(common), *own] if common else own)  # an arm per line


__all__ = [
    "RunData",
    "compare_title",
    "curve_points",
    "final_metrics",
    "grid_quantity",
    "log_density",
    "matching_preset",
    "run_data_from_trainer",
    "title_text",
]
