"""How much mass a density puts on each mode of a mixture, on the exact grid.

Every grid cell belongs to its nearest mode centre (a Voronoi split of the box); a mode's mass
is the normalised density summed over its cells. For well-separated modes the split hardly
matters: the density between them is negligible. Used by exp-sm-weights (learned mixing
weights against the true ones) and by the Guide dock's measurements.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .metrics import energy_grid, grid_points


def mode_masses(log_p: torch.Tensor, box: float, centres: torch.Tensor) -> np.ndarray:
    """Mass per mode of the (unnormalised) log-density ``log_p`` given on the (res, res) grid of
    ``metrics.grid_points`` (rows = y); sums to 1 over the modes."""
    res = log_p.shape[-1]
    pts, _ = grid_points(box, res)
    d2 = ((pts.double()[:, None, :] - centres.double()[None]) ** 2).sum(-1)
    owner = d2.argmin(1)
    lp = log_p.double().reshape(-1)
    w = torch.exp(lp - torch.logsumexp(lp, 0))
    out = torch.zeros(len(centres), dtype=torch.float64).index_add_(0, owner, w)
    return out.numpy()


def model_mode_masses(
    energy: Callable[[torch.Tensor], torch.Tensor], box: float, centres: torch.Tensor, res: int
) -> np.ndarray:
    """``mode_masses`` of exp(-E) (the normaliser cancels)."""
    with torch.no_grad():
        e = energy_grid(energy, box, res)
    return mode_masses(-e, box, centres)


def chain_mode_shares(x: torch.Tensor, centres: torch.Tensor) -> np.ndarray:
    """Fraction of chains whose nearest mode centre is each centre (sums to 1)."""
    d2 = ((x.double()[:, None, :] - centres.double()[None]) ** 2).sum(-1)
    counts = torch.bincount(d2.argmin(1), minlength=len(centres)).double()
    return (counts / max(len(x), 1)).numpy()


__all__ = ["chain_mode_shares", "mode_masses", "model_mode_masses"]
