"""Curve densities: Gaussian noise around parametric curves (two moons, two spirals,
pinwheel, swiss roll).

Each is a mixture over curves ``c_k(t)`` with a law for ``t``; the density is the convolution
of that law pushed through the curve with the isotropic noise, computed by quadrature over
``t``. ``sample`` draws exactly that generative process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..config import ConfigError
from .base import BLOCK_ROWS, LOG_2PI, Dataset, as_points, check_sample_args, like_input, row_blocks

# Upper bound on elements of one (rows x nodes) temporary, so quadrature blocks stay ~32 MB.
_BLOCK_ELEMENTS = 1 << 22

# Quadrature: composite Gauss-Legendre over the curve parameter, panels of equal arc length
# no longer than _PANEL_STDS noise stds, _GL_NODES nodes each: accurate to ~1e-8 in log density
# within 30 nats of the peak (the tests check 1e-6), at half the cost of 1.0-std panels
# (docs/algorithms.md, section 7).
_GL_NODES = 8
_PANEL_STDS = 1.5
_MIN_PANELS = 16
_MAX_NODES = 1 << 16


@dataclass(frozen=True)
class _Curve:
    """One mixture component: the curve ``c(t)`` for t in [lo, hi] and the law of t.

    t is uniform on [lo, hi], or, when ``sd`` is set, normal(mean, sd) truncated to [lo, hi].
    """

    fn: Callable[[torch.Tensor], torch.Tensor]
    lo: float
    hi: float
    weight: float
    mean: float = 0.0
    sd: float | None = None

    def _cdf_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.special.ndtr(torch.tensor((self.lo - self.mean) / self.sd, dtype=torch.float64))
        b = torch.special.ndtr(torch.tensor((self.hi - self.mean) / self.sd, dtype=torch.float64))
        return a, b

    def log_pdf(self, t: torch.Tensor) -> torch.Tensor:
        if self.sd is None:
            return torch.full_like(t, -math.log(self.hi - self.lo))
        a, b = self._cdf_range()
        z = (t - self.mean) / self.sd
        return -0.5 * z**2 - 0.5 * LOG_2PI - math.log(self.sd) - torch.log(b - a)

    def draw(self, n: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        if self.sd is None:
            return self.lo + (self.hi - self.lo) * u
        a, b = self._cdf_range()  # inverse-CDF sampling of the truncated normal
        t = self.mean + self.sd * torch.special.ndtri(a + (b - a) * u)
        return t.clamp(self.lo, self.hi)


def _arc_length_table(curve: _Curve) -> tuple[torch.Tensor, torch.Tensor]:
    """A fine parameter grid and the cumulative arc length along it."""
    t = torch.linspace(curve.lo, curve.hi, 8193, dtype=torch.float64)
    seg = torch.linalg.vector_norm(torch.diff(curve.fn(t), dim=0), dim=1)
    return t, torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(seg, 0)])


def _quadrature(
    curve: _Curve, t_fine: torch.Tensor, arc: torch.Tensor, panels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes c(t_j) and log weights log(w_j p(t_j) weight) of composite Gauss-Legendre.

    Panels have equal arc length, so the Gaussian kernel is resolved equally well everywhere
    along the curve, whatever the parameter speed.
    """
    targets = np.linspace(0.0, float(arc[-1]), panels + 1)
    edges = torch.from_numpy(np.interp(targets, arc.numpy(), t_fine.numpy()))
    xg, wg = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(_GL_NODES))
    mid = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * (edges[1:] - edges[:-1])
    t = (mid[:, None] + half[:, None] * xg[None]).reshape(-1)
    w = (half[:, None] * wg[None]).reshape(-1)
    return curve.fn(t), torch.log(w) + curve.log_pdf(t) + math.log(curve.weight)


class _CurveNoise(Dataset):
    """Mixture over curves of ``c_k(t) + std * N(0, I)``, with t drawn from the curve's law.

    The density is the convolution ``p(x) = sum_k w_k int p_k(t) N(x; c_k(t), std^2 I) dt``,
    evaluated by composite Gauss-Legendre quadrature in t (``refine`` multiplies the number of
    panels; used by tests to check convergence).
    """

    def __init__(
        self, name: str, box: float, curves: list[_Curve], std: float, refine: int = 1
    ) -> None:
        super().__init__(name, box, has_density=True)
        self.curves = curves
        self.std = float(std)
        arcs = [_arc_length_table(c) for c in curves]
        panels = [
            max(_MIN_PANELS, math.ceil(float(arc[-1]) / (_PANEL_STDS * self.std)))
            for _, arc in arcs
        ]
        if sum(panels) * _GL_NODES > _MAX_NODES:
            need = self.std * sum(panels) * _GL_NODES / _MAX_NODES
            raise ConfigError(
                f"data.std = {self.std:g} is too small for an exact {name} density; "
                f"use at least {need:.2g}"
            )
        parts = [_quadrature(c, t, arc, k * refine) for c, (t, arc), k in zip(curves, arcs, panels)]
        self.nodes = torch.cat([nodes for nodes, _ in parts])
        self.log_weights = torch.cat([logw for _, logw in parts])

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        check_sample_args(n, gen)
        out = torch.empty(n, 2, dtype=torch.float64)
        if n == 0:
            return out.float()
        w = torch.tensor([c.weight for c in self.curves], dtype=torch.float64)
        k = torch.multinomial(w, n, replacement=True, generator=gen)
        for i, curve in enumerate(self.curves):
            idx = (k == i).nonzero().squeeze(1)
            out[idx] = curve.fn(curve.draw(len(idx), gen))
        out += self.std * torch.randn(n, 2, generator=gen, dtype=torch.float64)
        return out.float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = as_points(x)
        out = torch.empty(len(p), dtype=torch.float64)
        c = self.nodes
        cc = (c * c).sum(1)
        inv = 0.5 / self.std**2
        const = -LOG_2PI - 2.0 * math.log(self.std)
        rows = max(1, min(BLOCK_ROWS, _BLOCK_ELEMENTS // len(c)))
        for b in row_blocks(len(p), rows):
            xb = p[b]
            # |x - c|^2 by expansion (one matmul); float64 keeps the cancellation harmless.
            d2 = ((xb * xb).sum(1, keepdim=True) - 2.0 * xb @ c.T + cc).clamp_(min=0.0)
            out[b] = torch.logsumexp(self.log_weights - inv * d2, dim=1) + const
        return like_input(out, x)


def moons(box: float, std: float | None, refine: int = 1) -> Dataset:
    """Two moons (sklearn's half circles), centred and scaled by 2: spans [-3, 3] x [-1.5, 1.5].

    t ~ U[0, pi] on each moon; outer c(t) = 2 (cos t - 1/2, sin t - 1/4), inner = -c(t).
    """

    def outer(t: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.stack([torch.cos(t) - 0.5, torch.sin(t) - 0.25], dim=1)

    def inner(t: torch.Tensor) -> torch.Tensor:
        return -outer(t)

    curves = [_Curve(outer, 0.0, math.pi, 0.5), _Curve(inner, 0.0, math.pi, 0.5)]
    return _CurveNoise("moons", box, curves, std or 0.1, refine)


_SPIRAL_SCALE = 3.9 / (3.0 * math.pi)  # outermost point at radius 3.9


def spirals(box: float, std: float | None, refine: int = 1) -> Dataset:
    """Two interleaved Archimedean spirals, the second rotated by pi.

    Angle and radius both grow with theta = sqrt(s), s ~ U[0.25, 9 pi^2] (theta in
    [0.5, 3 pi]): the square root makes points nearly uniform along the arc, as in the common
    FFJORD version. Radius 0.414 * theta reaches 3.9.
    """

    def first(s: torch.Tensor) -> torch.Tensor:
        th = torch.sqrt(s)
        return _SPIRAL_SCALE * th[:, None] * torch.stack([torch.cos(th), torch.sin(th)], dim=1)

    def second(s: torch.Tensor) -> torch.Tensor:
        return -first(s)

    lo, hi = 0.25, (3.0 * math.pi) ** 2
    curves = [_Curve(first, lo, hi, 0.5), _Curve(second, lo, hi, 0.5)]
    return _CurveNoise("spirals", box, curves, std or 0.1, refine)


_SWISS_SCALE = 3.9 / (4.5 * math.pi)  # outermost point at radius 3.9


def swissroll(box: float, std: float | None, refine: int = 1) -> Dataset:
    """2D swiss roll (sklearn): c(t) = 0.276 t (cos t, sin t), t ~ U[1.5 pi, 4.5 pi]."""

    def roll(t: torch.Tensor) -> torch.Tensor:
        return _SWISS_SCALE * t[:, None] * torch.stack([torch.cos(t), torch.sin(t)], dim=1)

    curves = [_Curve(roll, 1.5 * math.pi, 4.5 * math.pi, 1.0)]
    return _CurveNoise("swissroll", box, curves, std or 0.1, refine)


def pinwheel(box: float, std: float | None, refine: int = 1) -> Dataset:
    """Pinwheel with 5 arms, as curve noise so that its density is exact.

    The usual pinwheel rotates (u1, u2), u1 ~ N(1, 0.3), u2 ~ N(0, 0.05), by
    2 pi k / 5 + 0.25 exp(u1) and scales by 2; that map is not invertible, so here the arm is
    the curve traced by the mean, c_k(t) = 2 t (cos a, sin a) with a = 2 pi k / 5 + 0.25 e^t,
    with t ~ N(1, 0.3) truncated to [0.1, 1.9] (3 sd) and isotropic noise std 0.1 (= 2 * 0.05,
    the usual tangential spread). Radius at most 3.8.
    """

    def arm(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def fn(t: torch.Tensor) -> torch.Tensor:
            a = 2.0 * math.pi * k / 5 + 0.25 * torch.exp(t)
            return 2.0 * t[:, None] * torch.stack([torch.cos(a), torch.sin(a)], dim=1)

        return fn

    curves = [_Curve(arm(k), 0.1, 1.9, 0.2, mean=1.0, sd=0.3) for k in range(5)]
    return _CurveNoise("pinwheel", box, curves, std or 0.1, refine)


# name -> factory(box, std or None for the dataset's default)
BUILTINS: dict[str, Callable[[float, float | None], Dataset]] = {
    "moons": moons,
    "spirals": spirals,
    "pinwheel": pinwheel,
    "swissroll": swissroll,
}

__all__ = ["BUILTINS", "moons", "pinwheel", "spirals", "swissroll"]
