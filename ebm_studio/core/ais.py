"""Annealed importance sampling (Neal 2001, "Annealed importance sampling") for the log
normaliser of an energy in any dimension, and the held-out log-likelihood it gives.

Path: E_b(x) = (1 - b) E_0(x) + b E(x) from the Gaussian E_0(x) = |x - m|^2 / (2 s^2), whose
log Z_0 = (D / 2) log(2 pi s^2) is known, to the model at b = 1, on a sigmoid-spaced schedule
(dense near both ends). Each temperature applies MALA steps that leave E_b invariant; the log
weight of a chain adds (b_k - b_{k-1}) (E_0(x) - E(x)).

    log Z_hat = log Z_0 + log mean_i w_i,    se = std(w) / (sqrt(n) mean(w))  (delta method)

The estimate is a stochastic lower bound in expectation (Jensen); the standard error measures
the spread of the weights, not that bias, which a longer schedule reduces.

With ``box``, the integral runs over the box [-box, box]^D instead of R^D: the base is the same
Gaussian cut to the box (drawn exactly, its log Z_0 from erf) and MALA rejects proposals that
leave the box. Image runs need this:
their sampler clamps pixels to the box, so the energy outside it is never trained, and a
learned energy often keeps falling along rays out of it (img-ml's: E(8 x) = -25 for held-out
digits x, against -0.1 at x), which makes Z over R^D infinite; AIS over R^D then reports a
log Z that grows with every longer schedule (302, 510-515, 733 nats at 200, 1000, 3000
temperatures) while its standard error stays near 1 (docs/experiments.md, 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .samplers import EnergyFn, energy_and_grad, rows, sq_norm


@dataclass
class AISResult:
    log_z: float
    se: float  # standard error of log_z (delta method over the chains' weights)
    ess: float  # effective sample size of the final weights, as a fraction of the chains
    acceptance: float  # mean MALA acceptance over the schedule


def _ncdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.special.erf(z / math.sqrt(2)))


def schedule(n_temps: int) -> torch.Tensor:
    """b_0 = 0 < ... < b_K = 1, dense near 0 where the path changes fastest (sigmoid spacing)."""
    t = torch.linspace(-4, 4, n_temps + 1, dtype=torch.float64)
    s = torch.sigmoid(t)
    return (s - s[0]) / (s[-1] - s[0])


@torch.no_grad()
def ais_log_z(
    energy: EnergyFn,
    shape: tuple[int, ...],
    gen: torch.Generator,
    *,
    n_chains: int = 256,
    n_temps: int = 200,
    mcmc_steps: int = 1,
    step_size: float = 0.05,
    base_mean: torch.Tensor | None = None,
    base_std: float = 1.0,
    box: float | None = None,
    device: torch.device | str = "cpu",
) -> AISResult:
    """AIS estimate of log Z for ``energy`` over R^shape with a Gaussian base N(m, s^2 I).

    The MALA step size adapts per temperature toward 0.6 acceptance (a transition that keeps
    every intermediate target invariant for any step size; adapting between temperatures
    changes which kernel is used, not its invariance)."""
    d = math.prod(shape)
    m = torch.zeros(shape, device=device) if base_mean is None else base_mean.to(device)
    if box is None:
        x = m + base_std * torch.randn((n_chains, *shape), generator=gen, device=device)
        log_z0 = 0.5 * d * math.log(2 * math.pi * base_std**2)
    else:
        # The same Gaussian cut to the box: exact draws by the inverse CDF, log Z_0 by erf.
        m = m.expand(shape).double()
        lo, hi = (_ncdf((-box - m) / base_std), _ncdf((box - m) / base_std))
        u = lo + (hi - lo) * torch.rand((n_chains, *shape), generator=gen, device=device)
        x = (m + base_std * torch.special.ndtri(u)).clamp(-box, box).float()
        mass = (hi - lo).clamp(min=1e-300)
        log_z0 = 0.5 * d * math.log(2 * math.pi * base_std**2) + float(mass.log().sum())
        m = m.float()

    def e0(y: torch.Tensor) -> torch.Tensor:
        return sq_norm(y - m) / (2 * base_std**2)

    bs = schedule(n_temps).tolist()
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
    eta, acc_total = step_size, 0.0
    for k in range(1, len(bs)):
        b_prev, b = bs[k - 1], bs[k]
        e_model = energy(x).double()
        log_w += (b - b_prev) * (e0(x).double() - e_model)

        def eb(y: torch.Tensor, b: float = b) -> torch.Tensor:
            return (1 - b) * e0(y) + b * energy(y)

        for _ in range(mcmc_steps):
            e, g = energy_and_grad(eb, x)
            noise = torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)
            prop = x - eta * g + math.sqrt(2 * eta) * noise
            e_p, g_p = energy_and_grad(eb, prop)
            fwd = sq_norm(prop - x + eta * g)
            bwd = sq_norm(x - prop + eta * g_p)
            log_a = -(e_p - e) - (bwd - fwd) / (4 * eta)
            u = torch.rand(n_chains, generator=gen, device=device, dtype=x.dtype)
            acc = (torch.log(u) < log_a) & torch.isfinite(e_p)
            if box is not None:
                acc &= (prop.abs() <= box).reshape(n_chains, -1).all(-1)
            x = torch.where(rows(acc, x), prop, x)
            rate = float(acc.float().mean())
            acc_total += rate
            eta = min(max(eta * math.exp(rate - 0.6), 1e-6), 10.0)
    w = torch.exp(log_w - log_w.max())
    mean_w = float(w.mean())
    se = float(w.std()) / (math.sqrt(n_chains) * mean_w) if n_chains > 1 else math.inf
    ess = float(w.sum() ** 2 / (w**2).sum()) / n_chains
    log_z = log_z0 + float(torch.logsumexp(log_w, 0)) - math.log(n_chains)
    return AISResult(log_z, se, ess, acc_total / (n_temps * mcmc_steps))


@torch.no_grad()
def heldout_log_likelihood(
    energy: EnergyFn, test_x: torch.Tensor, ais: AISResult
) -> tuple[float, float]:
    """(mean log p(x) over ``test_x``, its standard error): the test mean's own standard error
    and the AIS estimate's, combined as independent."""
    e = energy(test_x).double()
    n = len(e)
    se_mean = float(e.std()) / math.sqrt(n) if n > 1 else 0.0
    return -float(e.mean()) - ais.log_z, math.sqrt(se_mean**2 + ais.se**2)


__all__ = ["AISResult", "ais_log_z", "heldout_log_likelihood", "schedule"]
