"""Samplers that are exact with respect to the target: parallel tempering and HMC.

Both work on chains of any event shape, ``(N, *event_shape)``: every sum over a chain's
coordinates is ``flatten(1).sum(1)`` and a per-chain scalar broadcasts through ``_per_chain``.

- **Parallel tempering** (replica exchange; Swendsen & Wang 1986, Geyer 1991): K replicas of
  every chain at temperatures ``T_k = T * r^(k/(K-1))`` (a geometric ladder from the sampler
  temperature T to ``r * T``, r = ``sampler.pt_top_temp``). Each step moves every replica by one
  MALA (or Langevin) step at its own temperature, then proposes swapping the states of adjacent
  replicas (even pairs on even steps, odd pairs on odd steps), accepted with probability
  ``min(1, exp((1/T_k - 1/T_{k+1}) (E_k - E_{k+1})))``. Every move leaves the product of the
  tempered targets invariant, so the T_0 replica samples exp(-E/T) exactly (with MALA moves).
  The same step size eta serves every rung: with x' = x - eta grad E + sqrt(2 eta T) xi the
  proposal width grows as sqrt(T), as the tempered target does.
- **HMC** (Duane et al. 1987; Neal 2011, "MCMC using Hamiltonian dynamics"): momentum
  p ~ N(0, I), ``sampler.hmc_leapfrog`` leapfrog steps of size eps = ``sampler.step_size`` on
  H(x, p) = E(x)/T + |p|^2/2, accepted with probability min(1, exp(H - H')). The leapfrog map
  is volume preserving and reversible for any gradient field (also a clamped one), so the
  Metropolis correction makes it exact.

Neither clamps chains to the box (a clamp would break reversibility) nor keeps an autograd
graph through its steps (the KL term of Du et al. 2021 needs Langevin or MALA).
"""

from __future__ import annotations

import torch

from .config import SamplerConfig

EXACT_KINDS = ("pt", "hmc")


def ladder(cfg: SamplerConfig) -> torch.Tensor:
    """The PT temperatures, coldest (the sampler temperature) first, float64."""
    k = cfg.pt_replicas
    return cfg.temperature * cfg.pt_top_temp ** (torch.arange(k, dtype=torch.float64) / (k - 1))


def _per_chain(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-chain vector shaped to broadcast against chains ``x`` of shape (N, *event)."""
    return v.reshape(v.shape[0], *([1] * (x.dim() - 1)))


def _sq(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).pow(2).sum(1)


def _energy_and_grad(energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        e = energy(xg)
        (g,) = torch.autograd.grad(e.sum(), xg)
    return e.detach(), g.detach()


class ExactRun:
    """One ``run`` of PT or HMC for a ``Sampler`` (which owns the config and the step size).

    PT keeps its hot replicas between calls while the chain count stays the same, so sample
    mode, which continues its chains, also continues the ladder; a new chain count starts the
    hot replicas as copies of the cold chains."""

    def __init__(self) -> None:
        self.hot: torch.Tensor | None = None  # (K-1, N, *event): replicas above T_0

    def run(self, sampler, energy, x: torch.Tensor, steps: int, gen: torch.Generator):
        cfg = sampler.cfg
        if cfg.kind == "hmc":
            return self._hmc(sampler, energy, x.detach(), steps, gen)
        return self._pt(sampler, energy, x.detach(), steps, gen)

    # ---------------------------------------------------------------- HMC
    def _hmc(self, sampler, energy, x, steps, gen):
        cfg, eps = sampler.cfg, sampler.step_size
        t = cfg.temperature
        e, g = _energy_and_grad(energy, x)
        acc_sum, e_sum, g_sum = 0.0, 0.0, 0.0
        for _ in range(steps):
            p = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            h0 = e / t + 0.5 * _sq(p)
            xp, gp = x, g
            pp = p - 0.5 * eps * sampler.clamp_grad(gp) / t
            for i in range(cfg.hmc_leapfrog):
                xp = xp + eps * pp
                ep, gp = _energy_and_grad(energy, xp)
                last = i == cfg.hmc_leapfrog - 1
                pp = pp - (0.5 if last else 1.0) * eps * sampler.clamp_grad(gp) / t
            h1 = ep / t + 0.5 * _sq(pp)
            u = torch.rand(x.shape[0], generator=gen, device=x.device, dtype=x.dtype)
            acc = (torch.log(u) < (h0 - h1)) & torch.isfinite(h1)
            a = _per_chain(acc, x)
            x, e, g = torch.where(a, xp, x), torch.where(acc, ep, e), torch.where(a, gp, g)
            acc_sum += float(acc.double().mean())
            e_sum += float(e.double().mean())
            g_sum += float(g.flatten(1).norm(dim=1).double().mean())
        n = max(steps, 1)
        return x, (acc_sum / n, e_sum / n, g_sum / n, None)

    # ---------------------------------------------------------------- PT
    def _pt(self, sampler, energy, x, steps, gen):
        cfg, eta = sampler.cfg, sampler.step_size
        n, k = x.shape[0], cfg.pt_replicas
        temps = ladder(cfg).to(device=x.device, dtype=x.dtype)
        if self.hot is None or self.hot.shape[1:] != x.shape or self.hot.shape[0] != k - 1:
            self.hot = x.unsqueeze(0).expand(k - 1, *x.shape).clone()
        xs = torch.cat([x.unsqueeze(0), self.hot.to(x)]).reshape(k * n, *x.shape[1:])
        t_row = temps.repeat_interleave(n)  # (K*N,): replica k holds rows k*n .. (k+1)*n - 1
        e, g = _energy_and_grad(energy, xs)
        swaps_acc = torch.zeros(k - 1, dtype=torch.float64)
        swaps_try = torch.zeros(k - 1, dtype=torch.float64)
        acc_sum, e_sum, g_sum = 0.0, 0.0, 0.0
        for step in range(steps):
            xs, e, g, acc = self._move(sampler, energy, xs, e, g, t_row, eta, gen)
            if acc is not None:
                acc_sum += float(acc[:n].double().mean())
            xs, e, g = self._swap(xs, e, g, temps, n, step % 2, gen, swaps_acc, swaps_try)
            e_sum += float(e[:n].double().mean())
            g_sum += float(g[:n].flatten(1).norm(dim=1).double().mean())
        xs = xs.reshape(k, n, *x.shape[1:])
        self.hot = xs[1:].clone()
        rates = tuple(float(a / t) if t > 0 else float("nan") for a, t in zip(swaps_acc, swaps_try))
        m = max(steps, 1)
        acc = acc_sum / m if cfg.pt_move == "mala" else None
        return xs[0].clone(), (acc, e_sum / m, g_sum / m, rates)

    @staticmethod
    def _move(sampler, energy, x, e, g, t_row, eta, gen):
        t = _per_chain(t_row, x)
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        gc = sampler.clamp_grad(g)
        prop = x - eta * gc + torch.sqrt(2.0 * eta * t) * noise
        e_p, g_p = _energy_and_grad(energy, prop)
        if sampler.cfg.pt_move == "langevin":
            return prop, e_p, g_p, None
        # log q(x|x') - log q(x'|x) with q(a|b) = N(a; b - eta grad E(b), 2 eta T I)
        fwd = _sq(prop - x + eta * gc)
        bwd = _sq(x - prop + eta * sampler.clamp_grad(g_p))
        log_a = -(e_p - e) / t_row - (bwd - fwd) / (4.0 * eta * t_row)
        u = torch.rand(x.shape[0], generator=gen, device=x.device, dtype=x.dtype)
        acc = (torch.log(u) < log_a) & torch.isfinite(e_p)
        a = _per_chain(acc, x)
        return torch.where(a, prop, x), torch.where(acc, e_p, e), torch.where(a, g_p, g), acc

    @staticmethod
    def _swap(x, e, g, temps, n, parity, gen, swaps_acc, swaps_try):
        """Replica exchange between rungs (k, k+1) for every k of the given parity."""
        k = len(temps)
        lower = torch.arange(parity, k - 1, 2)
        if not len(lower):
            return x, e, g
        shape = x.shape[1:]
        xr, er, gr = x.reshape(k, n, *shape), e.reshape(k, n), g.reshape(k, n, *shape)
        beta = 1.0 / temps
        d_beta = (beta[lower] - beta[lower + 1])[:, None]  # (P, 1)
        log_a = d_beta * (er[lower] - er[lower + 1])  # (P, N)
        u = torch.rand(log_a.shape, generator=gen, device=x.device, dtype=x.dtype)
        acc = torch.log(u) < log_a
        swaps_acc[lower] += acc.double().mean(1).cpu()
        swaps_try[lower] += 1.0
        order = torch.arange(k, device=x.device)[:, None].repeat(1, n)  # (K, N) source rung
        lo, hi = lower.to(x.device), (lower + 1).to(x.device)
        order[lo] = torch.where(acc, hi[:, None], lo[:, None])
        order[hi] = torch.where(acc, lo[:, None], hi[:, None])
        cols = torch.arange(n, device=x.device)[None].expand(k, n)
        xr, er, gr = xr[order, cols], er[order, cols], gr[order, cols]
        return xr.reshape(k * n, *shape), er.reshape(k * n), gr.reshape(k * n, *shape)


__all__ = ["EXACT_KINDS", "ExactRun", "ladder"]
