"""The numbers behind each experiment preset's claim, measured on a trained run.

The exact KL, NLL and log Z error come with every run; some claims are about something else:
where chains started from noise end up, how many modes a chain visits, the mixing weights the
model learned. ``claim_metrics(preset, trainer)`` measures them for the ``exp-*`` presets, so a
sweep over seeds (``ebm-studio sweep exp-... --seeds 0-4``) reports their mean and spread in
``sweep.csv`` and ``summary.csv`` and the tests assert the claims on the same code.

The sampling here uses fixed generator seeds (noise starts 123, chains 7, moves 5): across a
sweep's seeds only the training differs. A chain is "in" a mode within ``MODE_RADIUS`` of its
centre (3 standard deviations of the 8 Gaussians). No Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .metrics import median_bandwidth, mmd2
from .modes import model_mode_masses
from .samplers import Sampler

MODE_RADIUS = 0.6


def mode_labels(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the mode each point is in, or -1 when it is in none."""
    d = torch.cdist(x.double(), centres.double()).min(1)
    return torch.where(d.values < MODE_RADIUS, d.indices, torch.full_like(d.indices, -1))


def mode_occupancy(x: torch.Tensor, centres: torch.Tensor) -> tuple[int, float, float]:
    """(modes holding >= 5% of all chains, entropy of the histogram over modes of the chains
    that are in one (nats; log k = uniform), fraction of chains in a mode)."""
    lab = mode_labels(x, centres)
    counts = torch.bincount(lab[lab >= 0], minlength=len(centres)).double()
    share = counts / len(x)
    p = counts[counts > 0] / counts.sum().clamp_min(1)
    return (
        int((share >= 0.05).sum()),
        float(-(p * p.log()).sum()),
        float((lab >= 0).double().mean()),
    )


def top2_share(x: torch.Tensor, centres: torch.Tensor) -> float:
    """Share of the chains in a mode that the two fullest modes hold."""
    lab = mode_labels(x, centres)
    counts = torch.bincount(lab[lab >= 0], minlength=len(centres))
    return float(counts.sort(descending=True).values[:2].sum() / counts.sum().clamp_min(1))


def run_chains(trainer, x0: torch.Tensor, steps: int, seed: int, **sampler_overrides):
    """The trainer's own sampler (optionally changed) on its frozen model from ``x0``."""
    cfg = replace(trainer.config.sampler, **sampler_overrides)
    gen = torch.Generator().manual_seed(seed)
    x, _ = Sampler(cfg, trainer.box).run(trainer.model, x0, steps, gen)
    return x


def uniform_noise(trainer, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, generator=gen) * 2 - 1) * trainer.box


def modes_visited(trainer, x0: torch.Tensor, augment: str, blocks: int = 30) -> tuple:
    """(modes visited per chain, final chains) over ``blocks`` x 10 sampler steps with
    Metropolis-corrected ``augment`` moves every 10 steps."""
    cfg = replace(trainer.config.sampler, augment=augment, augment_every=10, augment_mh=True)
    sampler, gen = Sampler(cfg, trainer.box), torch.Generator().manual_seed(5)
    centres = trainer.dataset.means
    x, seen = x0.clone(), torch.zeros(len(x0), len(centres), dtype=torch.bool)
    for _ in range(blocks):
        x, _ = sampler.run(trainer.model, x, 10, gen)
        lab = mode_labels(x, centres)
        rows = (lab >= 0).nonzero()[:, 0]
        seen[rows, lab[rows]] = True
    return float(seen.sum(1).double().mean()), x


# ----------------------------------------------------------------------------- the claims


def _truecd_vs_ml(tr) -> dict[str, float]:
    """Chains from uniform noise, 300 sampler steps: in a mode, and MMD^2 to the data."""
    x = run_chains(tr, uniform_noise(tr, 1000, 123), 300, seed=7)
    data = tr.test_x[:1000]
    _, _, in_mode = mode_occupancy(x, tr.dataset.means)
    return {
        "noise_in_mode": in_mode,
        "noise_mmd": float(mmd2(x, data, median_bandwidth(tr.test_x))),
    }


def _noise_funnel(tr) -> dict[str, float]:
    """The same 1000 noise starts, 3000 sampler steps at the training noise and at 0.03."""
    x0, centres, out = uniform_noise(tr, 1000, 123), tr.dataset.means, {}
    for tag, noise in (("low", 0.005), ("high", 0.03)):
        x = run_chains(tr, x0, 3000, seed=7, noise=noise)
        modes, entropy, in_mode = mode_occupancy(x, centres)
        out |= {
            f"top2_{tag}": top2_share(x, centres),
            f"entropy_{tag}": entropy,
            f"modes5_{tag}": float(modes),
            f"in_mode_{tag}": in_mode,
        }
    return out


def _augment_mixing(tr) -> dict[str, float]:
    """Modes visited per chain in 300 sampler steps from the data, without and with rotations."""
    x0, out = tr.test_x[:500].clone(), {}
    for aug in ("none", "rotation"):
        visited, x = modes_visited(tr, x0, aug)
        out[f"visited_{aug}"] = visited
        out[f"in_mode_{aug}"] = mode_occupancy(x, tr.dataset.means)[2]
    return out


def _sm_weights(tr) -> dict[str, float]:
    """Total variation between the learned mode masses (exact grid) and the true weights."""
    learned = model_mode_masses(tr.model, tr.box, tr.dataset.means, 200)
    true = tr.dataset.weights.numpy()
    return {"weights_tv": 0.5 * float(abs(learned - true).sum())}


CLAIMS: dict[str, Callable[[Any], dict[str, float]]] = {
    "exp-truecd-vs-ml": _truecd_vs_ml,
    "exp-noise-funnel": _noise_funnel,
    "exp-augment-mixing": _augment_mixing,
    "exp-sm-weights": _sm_weights,
}


def claim_metrics(preset: str, trainer) -> dict[str, float]:
    """The claim's measurements for ``preset`` (a built-in name or a TOML of that name; {} for
    presets whose claim is about the KL, NLL or log Z error every run reports)."""
    measure = CLAIMS.get(Path(preset).stem) if preset else None
    if measure is None:
        return {}
    return measure(trainer)


__all__ = [
    "CLAIMS",
    "MODE_RADIUS",
    "claim_metrics",
    "mode_labels",
    "mode_occupancy",
    "modes_visited",
    "run_chains",
    "top2_share",
    "uniform_noise",
]
