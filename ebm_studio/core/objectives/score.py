"""Score matching: exact (Hyvarinen), denoising and sliced. None of them needs log Z.

Sign convention: the model's score is ``s(x) = grad log p(x) = -grad E(x)``. Hyvarinen's
objective ``E_p[0.5 |s|^2 + tr(grad s)]`` becomes, in energies,

    exact (sm):      mean[0.5 |grad E|^2 - tr(Hess E)]
    denoising (dsm): x~ = x + sigma xi,  0.5 sigma^2 mean |grad E(x~) - (x~ - x) / sigma^2|^2
    sliced (ssm):    mean[0.5 (v^T grad E)^2 - v^T (Hess E) v]   (Song et al. 2019)
                     variance-reduced: mean[0.5 |grad E|^2 - v^T (Hess E) v]

with projections ``v`` Gaussian or Rademacher (both have E[v v^T] = I, which makes the sliced
forms unbiased for the exact one). In 2D the Hessian trace is exact with two second-derivative
calls. DSM fits the sigma-smoothed data density p_data * N(0, sigma^2 I), not p_data itself
(its optimum is exact only as sigma -> 0); the sigma^2 weight keeps its scale comparable
across sigma, and sigma is a live setting.

Inputs are (N, *event_shape); every sum over coordinates runs over all non-batch axes. The
exact Hessian trace costs one backward pass per coordinate (fine in 2D, 64 passes on 8x8
digits); DSM and SSM cost the same in any dimension.
"""

from __future__ import annotations

import torch

from ..config import Config
from .base import Context, Objective


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row inner product over every non-batch axis."""
    return (a * b).reshape(len(a), -1).sum(-1)


def _sq(a: torch.Tensor) -> torch.Tensor:
    return (a**2).reshape(len(a), -1).sum(-1)


def grad_energy(energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x with grad, E(x), grad E(x)); the gradient keeps its graph (second derivatives and
    parameter gradients flow through it)."""
    x = x.detach().requires_grad_(True)
    e = energy(x)
    (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    return x, e, g


def hessian_trace(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Exact tr(d g / d x) per row: one second-derivative call per coordinate."""
    tr = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    gf = g.reshape(len(x), -1)
    for i in range(gf.shape[1]):
        (h,) = torch.autograd.grad(gf[:, i].sum(), x, create_graph=True)
        tr = tr + h.reshape(len(x), -1)[:, i]
    return tr


def exact_sm_terms(energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (0.5 |grad E|^2 - tr Hess E) and E(x)."""
    x, e, g = grad_energy(energy, x)
    return 0.5 * _sq(g) - hessian_trace(g, x), e


def dsm_terms(
    energy, x: torch.Tensor, sigma: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample 0.5 sigma^2 |grad E(x~) - (x~ - x)/sigma^2|^2 and E(x~)."""
    xi = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    x_noisy = x.detach() + sigma * xi
    _, e, g = grad_energy(energy, x_noisy)
    # (x~ - x) / sigma^2 = xi / sigma: the noise kernel's negative score.
    return 0.5 * sigma**2 * _sq(g - xi / sigma), e


def projections(
    n_proj: int, n: int, dist: str, gen: torch.Generator, like: torch.Tensor
) -> torch.Tensor:
    """(n_proj, n, *event) random vectors with E[v v^T] = I."""
    shape = (n_proj, n, *like.shape[1:])
    if dist == "rademacher":
        b = torch.randint(0, 2, shape, generator=gen, device=like.device)
        return (2 * b - 1).to(like.dtype)
    if dist == "gaussian":
        return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)
    raise ValueError(f"unknown projection distribution '{dist}'")


def ssm_terms(
    energy, x: torch.Tensor, v: torch.Tensor, variance_reduced: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample sliced score matching loss, averaged over the projections ``v``
    (n_proj, n, *event), and E(x)."""
    n_proj, n = v.shape[0], v.shape[1]
    # Every projection gets its own copy of x: one forward and two backward passes in all.
    xr, e, g = grad_energy(energy, x.repeat(n_proj, *([1] * (x.ndim - 1))))
    vf = v.reshape(n_proj * n, *x.shape[1:])
    (hv,) = torch.autograd.grad((g * vf).sum(), xr, create_graph=True)
    vhv = _dot(hv, vf)
    first = 0.5 * _sq(g) if variance_reduced else 0.5 * _dot(g, vf) ** 2
    return (first - vhv).reshape(n_proj, n).mean(0), e[:n]


class ScoreObjective(Objective):
    """``sm``, ``dsm`` or ``ssm`` (the settings sigma, projections, their distribution and
    the variance-reduced form are live)."""

    def __init__(self, name: str, ctx: Context, cfg: Config) -> None:
        super().__init__(ctx, cfg)
        self.name = name

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        o = self.cfg.objective
        if self.name == "sm":
            per, e = exact_sm_terms(self.energy, x)
        elif self.name == "dsm":
            per, e = dsm_terms(self.energy, x, o.sigma, self.ctx.gen)
        else:
            v = projections(o.projections, len(x), o.projection_dist, self.ctx.gen, x)
            per, e = ssm_terms(self.energy, x, v, o.variance_reduced)
        loss = per.mean()
        # e_pos feeds the trainer's divergence guard: score matching ignores the energy's
        # offset, so a drifting offset is visible there.
        return loss, {"loss": loss.item(), "e_pos": e.mean().item()}


def build(name: str, ctx: Context, cfg: Config) -> Objective:
    """``sm`` (exact), ``dsm`` (denoising) or ``ssm`` (sliced)."""
    if name not in ("sm", "dsm", "ssm"):
        raise ValueError(f"unknown score-matching objective '{name}'")
    return ScoreObjective(name, ctx, cfg)


__all__ = [
    "ScoreObjective",
    "build",
    "exact_sm_terms",
    "dsm_terms",
    "ssm_terms",
    "hessian_trace",
    "projections",
]
