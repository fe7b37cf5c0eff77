"""MCMC-based objectives: CD-k, persistent CD, replay-buffer maximum likelihood, short-run.

All four share one loss; they differ only in where the negative chains start (Gagnon & Lajoie
2022, "Clarifying MCMC-based training of modern EBMs", §5.1):

    L = mean E(x+) - mean E(sg(x-)) + alpha * (mean E(x+)^2 + mean E(x-)^2)

plus the optional KL and entropy terms of Du, Li, Tenenbaum & Mordatch 2021, with the sign
switch of Gagnon & Lajoie 2022, §5.4. Formulas and sources: docs/algorithms.md, section 1.
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call

from ..config import Config
from ..samplers import ChainStarts, Sampler, StartInfo
from .base import Context, Objective

EULER_GAMMA = 0.5772156649015329


def nn_entropy(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Kozachenko-Leonenko entropy estimate of the distribution of ``x`` (N, *event), d =
    prod(event), using nearest neighbours in the independent reference sample ``ref`` (M
    points): H ~ d mean log rho + log V_d + log(M) + gamma, V_d = pi^(d/2) / Gamma(d/2 + 1) the
    unit ball's volume (2D: 2 mean log rho + log pi + log M + gamma). Differentiable in ``x``."""
    xf, rf = x.reshape(len(x), -1), ref.detach().reshape(len(ref), -1)
    d = xf.shape[1]
    rho = torch.cdist(xf, rf).min(dim=1).values.clamp_min(1e-12)
    log_vd = math.log(math.pi) if d == 2 else 0.5 * d * math.log(math.pi) - math.lgamma(d / 2 + 1)
    return d * torch.log(rho).mean() + log_vd + math.log(len(ref)) + EULER_GAMMA


class MCMCObjective(Objective):
    name = "mcmc"

    def __init__(self, ctx: Context, cfg: Config) -> None:
        super().__init__(ctx, cfg)
        self.sampler = Sampler(cfg.sampler, ctx.box)
        self.starts: dict[str, ChainStarts] = {}
        self._last_chains: torch.Tensor | None = None
        self._last_jumps: torch.Tensor | None = None

    def _policy(self) -> ChainStarts:
        p = self.cfg.objective.start
        if p not in self.starts:  # created on first use, kept when the user switches back
            self.starts[p] = ChainStarts(
                p, self.cfg.buffer, self.ctx.box, self.ctx.data, self.ctx.gen
            )
        return self.starts[p]

    def apply_config(self, cfg: Config) -> None:
        super().apply_config(cfg)
        self.sampler.apply_config(cfg.sampler)
        for s in self.starts.values():
            s.apply_config(cfg.buffer)

    def _frozen_energy(self):
        model = self.ctx.model
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = dict(model.named_buffers())
        return lambda x: functional_call(model, (params, buffers), (x,))

    def loss(self, x_pos: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, ocfg = self.cfg, self.cfg.objective
        starts = self._policy()
        n = len(x_pos) if ocfg.start == "data" else cfg.sampler.n_chains
        x0, info = starts.draw(n, x_pos, self.ctx.gen)
        if cfg.sampler.augment_on_draw and cfg.sampler.augment != "none" and info.index is not None:
            with torch.no_grad():
                e0 = self.energy(x0)
            x0, _, drawn_moved = self.sampler.augment(self.ctx.model, x0, e0, self.ctx.gen)
            info.reset = drawn_moved if info.reset is None else info.reset | drawn_moved
        use_kl = ocfg.kl_weight > 0 or ocfg.ent_weight > 0
        k_graph = min(ocfg.kl_steps, cfg.sampler.steps) if use_kl else 0
        if k_graph and cfg.sampler.kind in ("rwmh", "pt", "hmc"):
            # RWMH moves do not depend on theta; PT and HMC keep no graph (core/tempering.py)
            k_graph = 0
        x_neg, stats = self.sampler.run(
            self.ctx.model, x0, cfg.sampler.steps, self.ctx.gen, differentiable_last=k_graph
        )
        # The entropy reference must not contain these chains (or their own start rows):
        # picked before write_back and before _last_chains is replaced.
        ent_ref = self._entropy_reference(starts, info, len(x_neg)) if ocfg.ent_weight > 0 else None
        starts.write_back(x_neg, info)
        self._last_chains = x_neg.detach()
        jumps = self.sampler.moved
        if info.reset is not None:
            jumps = info.reset if jumps is None else jumps | info.reset
        self._last_jumps = jumps

        e_pos = self.energy(x_pos)
        e_neg = self.energy(x_neg.detach())
        loss = e_pos.mean() - e_neg.mean()
        reg = ocfg.alpha * ((e_pos**2).mean() + (e_neg**2).mean())
        ep, en = float(e_pos.detach().mean()), float(e_neg.detach().mean())
        parts = {
            "e_pos": ep,
            "e_neg": en,
            "gap": en - ep,
            "reg": float(reg.detach()),
            "sampler_energy": stats.mean_energy,
            "sampler_grad": stats.grad_norm,
        }
        if stats.acceptance is not None:
            parts["acceptance"] = stats.acceptance
            parts["sampler_step"] = self.sampler.step_size  # after adaptation, if on
        if info.index is not None:
            parts["reinit_noise"] = info.frac_noise
            parts["reinit_data"] = info.frac_data
        total = loss + reg
        if use_kl:
            sign = 1.0 if ocfg.kl_sign == "published" else -1.0
            if ocfg.kl_weight > 0:
                l_kl = self._frozen_energy()(x_neg).mean()
                total = total + sign * ocfg.kl_weight * l_kl
                parts["kl_term"] = float(l_kl.detach())
            if ent_ref is not None:
                l_ent = nn_entropy(x_neg, ent_ref)
                # As published: maximise the samples' entropy (subtract it from the loss).
                total = total - sign * ocfg.ent_weight * l_ent
                parts["entropy"] = float(l_ent.detach())
        parts["loss"] = float(total.detach())
        return total, parts

    def _entropy_reference(self, starts: ChainStarts, info: StartInfo, n: int) -> torch.Tensor:
        """Recent samples independent of this update's chains: the Kozachenko-Leonenko estimate
        is only valid against a reference that excludes the points themselves (a copy of x in
        the reference gives distance 0 and an entropy of about -44 nats)."""
        if starts.bank is not None:
            pool = starts.bank
            if info.index is not None:
                keep = torch.ones(len(pool), dtype=torch.bool, device=pool.device)
                keep[info.index] = False
                if keep.any():  # a persistent bank of exactly n chains has nothing else
                    pool = pool[keep]
            # Without replacement: duplicates would shrink the effective reference size.
            perm = torch.randperm(len(pool), generator=self.ctx.gen, device=self.ctx.device)
            return pool[perm[:1000]].clone()
        if self._last_chains is not None:  # the previous update's chains
            return self._last_chains
        return self.ctx.data[:n]

    def chains(self) -> torch.Tensor | None:
        return self._last_chains

    def chain_jumps(self) -> torch.Tensor | None:
        return self._last_jumps

    def swap_rates(self) -> tuple[float, ...] | None:
        stats = self.sampler.last_stats
        return None if stats is None else stats.swap_rates

    def buffer(self) -> torch.Tensor | None:
        s = self.starts.get(self.cfg.objective.start)
        return None if s is None else s.bank

    def buffer_age(self) -> torch.Tensor | None:
        s = self.starts.get(self.cfg.objective.start)
        return None if s is None else s.age

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {"step_size": torch.tensor(self.sampler.step_size, dtype=torch.float64)}
        for p, s in self.starts.items():
            out.update({f"starts.{p}.{k}": v for k, v in s.state_dict().items()})
        if self._last_chains is not None:
            out["last_chains"] = self._last_chains
        return out

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        if "step_size" in d:
            self.sampler.step_size = float(d["step_size"])
        for key in d:
            if key.startswith("starts.") and key.endswith(".bank"):
                p = key.split(".")[1]
                # A throwaway generator: the bank's initial contents are overwritten at once.
                scratch = torch.Generator(device=self.ctx.device)
                s = ChainStarts(p, self.cfg.buffer, self.ctx.box, self.ctx.data, scratch)
                s.load_state_dict({"bank": d[key], "age": d[f"starts.{p}.age"]})
                self.starts[p] = s
        if "last_chains" in d:
            self._last_chains = d["last_chains"].to(self.ctx.device)
