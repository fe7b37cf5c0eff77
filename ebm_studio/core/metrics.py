"""Exact grid quantities and sample diagnostics: the one implementation used by the trainer,
the CLI and the GUI.

In 2D the normaliser can be computed on a grid, so NLL and KL(p_data || p_theta) are exact up to
the grid's quadrature error (reported in the tests by doubling the resolution).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .fast_energy import FastMLPEnergy
from .samplers import BLOCK

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


def grid_points(
    box: float, res: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, float]:
    """Cell centres of a res x res grid on [-box, box]^2, row-major with rows = y (row 0 at
    y = -box), and the cell area."""
    h = 2 * box / res
    c = torch.linspace(-box + h / 2, box - h / 2, res, device=device)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1), h * h


@torch.no_grad()
def eval_blocked(fn: EnergyFn, x: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """fn over x in blocks of ``block`` rows (keeps activations in cache; bounds memory)."""
    if len(x) <= block:
        return fn(x)
    return torch.cat([fn(x[i : i + block]) for i in range(0, len(x), block)])


def energy_grid(energy: EnergyFn, box: float, res: int, device="cpu") -> torch.Tensor:
    """E on the grid as a (res, res) tensor, rows = y. MLP energies are evaluated by the
    hand-written forward pass (input scale folded into the first layer: one pass fewer)."""
    pts, _ = grid_points(box, res, device)
    fast = FastMLPEnergy.from_module(energy) if isinstance(energy, torch.nn.Module) else None
    return eval_blocked(fast or energy, pts).reshape(res, res)


def log_z_from_grid(e_grid: torch.Tensor, box: float) -> float:
    """log Z = logsumexp(-E) + log(cell area), computed in float64."""
    res = e_grid.shape[-1]
    area = (2 * box / res) ** 2
    return float(torch.logsumexp(-e_grid.double().reshape(-1), 0)) + math.log(area)


def log_z_grid(energy: EnergyFn, box: float, res: int, device="cpu") -> float:
    return log_z_from_grid(energy_grid(energy, box, res, device), box)


def nll(energy: EnergyFn, x: torch.Tensor, log_z: float) -> float:
    """Negative log-likelihood of the points ``x``, mean E(x) + log Z (nats): the held-out NLL
    of the trainer and of ``ebm-studio eval --data``."""
    return float(eval_blocked(energy, x).double().mean()) + log_z


def kl_to_model(
    log_p_data: torch.Tensor, energy: EnergyFn, x_test: torch.Tensor, log_z: float
) -> float:
    """KL(p_data || p_theta) = E_{x ~ p_data}[log p_data(x) - log p_theta(x)] on the test set."""
    e = eval_blocked(energy, x_test).double()
    return float((log_p_data.double() + e).mean()) + log_z


def median_bandwidth(x: torch.Tensor, max_points: int = 2000) -> float:
    """Median pairwise distance of (a prefix of) x: the RBF bandwidth, fixed from the data."""
    x = x[:max_points].double()
    d = torch.cdist(x, x)
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), 1)].median())


def _mmd2_from_kernel(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor) -> float:
    """Unbiased MMD^2 from the three kernel blocks (diagonals of kxx, kyy excluded)."""
    n, m = len(kxx), len(kyy)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def _rbf(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return torch.exp(-(torch.cdist(a, b) ** 2) / (2 * bandwidth**2))


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Unbiased MMD^2 with the RBF kernel exp(-|a-b|^2 / (2 h^2))."""
    x, y = x.double(), y.double()
    return _mmd2_from_kernel(_rbf(x, x, bandwidth), _rbf(y, y, bandwidth), _rbf(x, y, bandwidth))


def mmd_permutation_test(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, n_perm: int = 200
) -> tuple[float, float]:
    """(MMD^2, p-value) of a permutation two-sample test with a median-heuristic bandwidth."""
    z = torch.cat([x, y]).double()
    k = _rbf(z, z, median_bandwidth(z))  # one kernel matrix, re-indexed per permutation
    n = len(x)

    def stat(idx: torch.Tensor) -> float:
        a, b = idx[:n], idx[n:]
        return _mmd2_from_kernel(k[a][:, a], k[b][:, b], k[a][:, b])

    observed = stat(torch.arange(len(z)))
    count = sum(stat(torch.randperm(len(z), generator=gen)) >= observed for _ in range(n_perm))
    return observed, (1 + count) / (1 + n_perm)


# ---------------------------------------------------------------------------------------------
# Chain diagnostics over a window of chain energies, array of shape (steps, chains).


def autocorrelation(x: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Mean over chains of the normalised autocorrelation of each chain, lags 0..max_lag."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    t = x.shape[0]
    max_lag = t - 1 if max_lag is None else min(max_lag, t - 1)
    xc = x - x.mean(0)
    n = 1 << (2 * t - 1).bit_length()
    f = np.fft.rfft(xc, n=n, axis=0)
    ac = np.fft.irfft(f * np.conj(f), n=n, axis=0)[: max_lag + 1]
    var = ac[0]
    ok = var > 0
    ac = ac[:, ok] / var[ok]
    return ac.mean(1) if ac.shape[1] else np.ones(max_lag + 1)


def ess(x: np.ndarray) -> float:
    """Effective sample size of all chains together (Geyer's initial positive sequence)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    t, m = x.shape
    rho = autocorrelation(x)
    # tau = -1 + 2 * sum_k (rho_2k + rho_2k+1), summed while the pair sums stay positive.
    tau = -1.0
    for k in range(0, t - 1, 2):
        pair = rho[k] + rho[k + 1]
        if pair <= 0:
            break
        tau += 2.0 * pair
    return float(m * t / max(tau, 1e-12))


def split_rhat(x: np.ndarray) -> float:
    """Split R-hat (Gelman et al.) of chains of shape (steps, chains)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    t = x.shape[0] // 2
    if t < 2:
        return float("nan")
    halves = np.concatenate([x[:t], x[t : 2 * t]], axis=1)
    means = halves.mean(0)
    w = halves.var(0, ddof=1).mean()
    b = t * means.var(ddof=1)
    var_plus = (t - 1) / t * w + b / t
    return float(np.sqrt(var_plus / w)) if w > 0 else float("nan")
