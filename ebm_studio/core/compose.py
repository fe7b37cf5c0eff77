"""Composed energies: product, mixture and difference of two energies, measured exactly on the
grid, and written as a checkpoint the studio opens, samples and trains like any other.

A sum of energies is a product of their distributions (Hinton 2002, "Training products of
experts by minimizing contrastive divergence"; Du, Li & Mordatch 2020, "Compositional visual
generation with energy based models"):

- ``product``: E = E_A + E_B, p ~ p_A p_B;
- ``mixture``: E = -log(exp(-E_A - log Z_A) + exp(-E_B - log Z_B)) + log 2, the equal-weight
  mixture of the two normalised densities (each log Z from the grid, so a learned energy's
  arbitrary offset does not set the weights);
- ``difference``: E = E_A - E_B, p ~ p_A / p_B (where A is likely and B is not).

A source is a checkpoint path or ``data:NAME``, a built-in dataset's exact energy -log p. Where
both sources carry an exact density (a ``data:`` source, or a checkpoint trained on a built-in
dataset) the same operation on the exact densities is the truth, and the KL to it is exact on
the grid.

The composed energy is exact as a function; to be a checkpoint it is written into the studio's
MLP by regression on the grid (``distil``), whose fit is reported as the KL between the exact
composed density and the distilled one. Its data set is drawn from the composed density on the
grid, exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from .config import Config, ConfigError
from .metrics import eval_blocked, grid_points, log_z_from_grid

EnergyFn = Callable[[torch.Tensor], torch.Tensor]
OPS = ("product", "mixture", "difference")
# Above this energy (relative to the composed minimum) a cell's density is below e^-25 of the
# peak: the regression clips there instead of spending the network on empty corners.
CLIP = 25.0


class ComposeError(ValueError):
    """A source or operation that cannot be composed (one sentence)."""


@dataclass(frozen=True)
class Source:
    name: str
    energy: EnergyFn  # float64 in, float64 out
    true_energy: EnergyFn | None  # the exact -log p where the source has one
    box: float
    config: Config | None  # a checkpoint's config (the composed checkpoint starts from it)


def load_source(spec: str, box: float | None = None) -> Source:
    """``data:NAME`` or a checkpoint path (read with ``weights_only`` safetensors, never
    unpickled)."""
    from .checkpoint import restore_trainer
    from .datasets import make_dataset

    if spec.startswith("data:"):
        name = spec[5:]
        cfg = Config().data
        try:
            ds = make_dataset(replace(cfg, name=name, box=box or cfg.box))
        except (ConfigError, ValueError) as e:
            raise ComposeError(f"{spec}: {e}") from None
        if not ds.has_density:
            raise ComposeError(f"{spec}: has no exact density; use a built-in dataset")
        fn = _neg_log_prob(ds)
        return Source(spec, fn, fn, float(ds.box), None)
    if not os.path.exists(spec):
        raise ComposeError(f"{spec}: no such checkpoint (or use data:NAME for a dataset)")
    t = restore_trainer(spec, device="cpu")
    model = t.model.eval()

    def energy(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return eval_blocked(model, x.float()).double()

    truth = _neg_log_prob(t.dataset) if t.dataset.has_density else None
    return Source(os.path.basename(spec), energy, truth, float(t.box), t.config)


def _neg_log_prob(ds) -> EnergyFn:
    return lambda x: -ds.log_prob(x.double().cpu()).to(x.device)


def compose(a: EnergyFn, b: EnergyFn, op: str, box: float, res: int = 200) -> EnergyFn:
    """The composed energy of ``a`` and ``b`` (``mixture`` normalises each on the grid)."""
    if op == "product":
        return lambda x: a(x) + b(x)
    if op == "difference":
        return lambda x: a(x) - b(x)
    if op == "mixture":
        pts, _ = grid_points(box, res)
        pts = pts.double()
        za = log_z_from_grid(a(pts).reshape(res, res), box)
        zb = log_z_from_grid(b(pts).reshape(res, res), box)

        def mix(x: torch.Tensor) -> torch.Tensor:
            both = torch.stack([-a(x) - za, -b(x) - zb])
            return -torch.logsumexp(both, 0) + math.log(2.0)

        return mix
    raise ComposeError(f"unknown operation {op!r}; expected one of: " + ", ".join(OPS))


@dataclass(frozen=True)
class Measured:
    log_z: float
    kl: float | None  # KL(truth || composed) on the grid, nats (None without a truth)


def measure(energy: EnergyFn, truth: EnergyFn | None, box: float, res: int) -> Measured:
    """Exact log Z of ``energy`` on the grid and, with ``truth``, KL(p_truth || p) there."""
    pts, area = grid_points(box, res)
    e = energy(pts.double())
    log_z = log_z_from_grid(e.reshape(res, res), box)
    if not torch.isfinite(torch.tensor(log_z)):
        raise ComposeError("the composed energy has no finite normaliser on the box")
    if truth is None:
        return Measured(log_z, None)
    return Measured(log_z, grid_kl(truth(pts.double()), e, area))


def grid_kl(e_p: torch.Tensor, e_q: torch.Tensor, area: float) -> float:
    """KL(p || q) of the densities exp(-e_p), exp(-e_q) normalised on one grid (cell ``area``)."""
    lp = -e_p - torch.logsumexp(-e_p, 0) - math.log(area)
    lq = -e_q - torch.logsumexp(-e_q, 0) - math.log(area)
    p = torch.exp(lp) * area
    ok = p > 0
    return float((p[ok] * (lp[ok] - lq[ok])).sum())


def distil(
    energy: EnergyFn,
    config: Config,
    box: float,
    steps: int = 2000,
    res: int = 160,
    progress: Callable[[int], None] | None = None,
):
    """A Trainer whose MLP fits ``energy`` (normalised, clipped at ``CLIP`` above its minimum)
    on the grid and whose data are exact draws from the composed grid density. Returns
    (trainer, KL(composed || distilled) on the grid)."""
    from .trainer import Trainer

    pts, area = grid_points(box, res)
    e = energy(pts.double())
    log_z = float(torch.logsumexp(-e, 0)) + math.log(area)
    target = (e + log_z).clamp(max=float(e.min() + log_z) + CLIP).float()
    gen = torch.Generator().manual_seed(config.train.seed)
    probs = torch.softmax(-e, 0)
    n = config.data.n_train
    cells = torch.multinomial(probs, n, replacement=True, generator=gen)
    h = 2 * box / res
    data = pts[cells] + (torch.rand(n, 2, generator=gen) - 0.5) * h
    cfg = replace(config, data=replace(config.data, name="drawn", path="", box=box))
    cfg = replace(cfg, train=replace(cfg.train, device="cpu"))
    trainer = Trainer(cfg, points=data.double().numpy())
    model = trainer.model
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=3e-5)
    # Weighted toward where the density is: a cell's error matters by its probability mass,
    # plus a floor so the walls around the modes are fitted too.
    w = (probs * len(probs)).clamp(min=0.05).float()
    for i in range(steps):
        idx = torch.randint(len(pts), (4096,), generator=gen)
        loss = (w[idx] * (model(pts[idx]) - target[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(i + 1)
    with torch.no_grad():
        fitted = eval_blocked(model, pts).double()
    return trainer, grid_kl(e, fitted, area)


def compose_to_checkpoint(
    spec_a: str,
    spec_b: str,
    op: str,
    out: str | os.PathLike,
    *,
    steps: int = 2000,
    res: int = 200,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float | None]:
    """``ebm-studio compose``: measure A op B on the grid and write it as a checkpoint."""
    from .checkpoint import save_checkpoint

    if op not in OPS:
        raise ComposeError(f"unknown operation {op!r}; expected one of: " + ", ".join(OPS))
    a = load_source(spec_a)
    b = load_source(spec_b, box=a.box)
    box = a.box
    energy = compose(a.energy, b.energy, op, box, res)
    truth = None
    if a.true_energy is not None and b.true_energy is not None:
        truth = compose(a.true_energy, b.true_energy, op, box, res)
    m = measure(energy, truth, box, res)
    base = a.config or b.config or Config()
    trainer, fit_kl = distil(energy, base, box, steps=steps, progress=progress)
    save_checkpoint(trainer, out)
    return {"log_z": m.log_z, "kl_to_truth": m.kl, "distil_kl": fit_kl}


__all__ = [
    "OPS",
    "ComposeError",
    "Measured",
    "Source",
    "compose",
    "compose_to_checkpoint",
    "distil",
    "grid_kl",
    "load_source",
    "measure",
]
