"""Two-dimensional data distributions: built-in toy sets, CSV points, drawn points, images.

Every built-in dataset has an exact density, so metrics such as KL(p_data || p_theta) are
computed, not estimated. ``sample`` and ``log_prob`` always describe the same distribution:
each class draws exactly the generative process its density formula integrates.

Conventions (DESIGN section 1): every random draw uses the caller's ``torch.Generator``;
``sample`` returns float32 on the CPU; ``log_prob`` works in float64 internally, processes
large inputs in blocks and returns the dtype and device of its input.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .config import DATASETS, ConfigError, DataConfig

__all__ = [
    "DataError",
    "Dataset",
    "ImageDataset",
    "PointsDataset",
    "load_csv_points",
    "make_dataset",
]

# Rows per block for batched density evaluation (DESIGN section 1: ~4096 rows is fastest on CPU).
_BLOCK_ROWS = 4096
# Upper bound on elements of one (rows x nodes) temporary, so quadrature blocks stay ~32 MB.
_BLOCK_ELEMENTS = 1 << 22
# Largest accepted coordinate in user point files: beyond this the data is in other units.
_MAX_ABS = 1e6
# Largest image side kept; larger images are box-downsampled (mass-preserving) to fit.
_MAX_IMAGE_SIDE = 4096
_LOG_2PI = math.log(2.0 * math.pi)


class DataError(ValueError):
    """A bad user data file (or drawn point set); the message is one sentence naming it."""


# --------------------------------------------------------------------------------------------
# base class


class Dataset:
    """A 2D distribution with a bounding box ``[-box, box]^2``.

    Subclasses implement ``sample`` and, when ``has_density`` is true, ``log_prob``.
    """

    def __init__(self, name: str, box: float, has_density: bool) -> None:
        self.name = name
        self.box = float(box)
        self.has_density = has_density
        self._thumbs: dict[int, np.ndarray] = {}

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` points as an (n, 2) float32 CPU tensor; every draw uses ``gen``."""
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log density on R^2 of each row of ``x`` (n, 2), in the dtype of ``x``."""
        raise NotImplementedError(f"the {self.name} dataset has no exact density")

    def thumbnail(self, res: int = 64) -> np.ndarray:
        """(res, res) picture of the density in [0, 1] (row 0 = lowest y), for the picker.

        Each pixel averages the density at 2x2 sub-points, which also keeps the grid off the
        origin, where the rings density is (integrably) infinite.
        """
        if res < 1:
            raise ValueError(f"thumbnail resolution must be positive, got {res}")
        if res not in self._thumbs:
            self._thumbs[res] = _normalise_picture(self._thumbnail(res))
        return self._thumbs[res].copy()

    def _thumbnail(self, res: int) -> np.ndarray:
        c = _midpoints(self.box, 2 * res)
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
        d = torch.exp(self.log_prob(grid)).reshape(res, 2, res, 2).mean(dim=(1, 3))
        return d.numpy()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} box={self.box:g}>"


def _midpoints(box: float, res: int) -> torch.Tensor:
    """Cell midpoints of ``res`` equal cells on [-box, box] (float64)."""
    h = 2.0 * box / res
    return -box + (torch.arange(res, dtype=torch.float64) + 0.5) * h


def _normalise_picture(d: np.ndarray) -> np.ndarray:
    d = np.nan_to_num(np.asarray(d, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = d.max() if d.size else 0.0
    return d / top if top > 0 else np.zeros_like(d)


def _check_n(n: int, gen: torch.Generator) -> None:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"sample size must be a non-negative integer, got {n!r}")
    if gen.device.type != "cpu":
        raise ValueError("datasets sample on the CPU; pass a CPU torch.Generator")


def _as_points(x: torch.Tensor) -> torch.Tensor:
    """Validate shape and promote to float64 on the CPU (all densities are computed there)."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"expected points of shape (n, 2), got {tuple(x.shape)}")
    return x.detach().to(device="cpu", dtype=torch.float64)


def _like(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    dtype = x.dtype if x.dtype.is_floating_point else torch.float32
    return out.to(device=x.device, dtype=dtype)


def _blocks(n: int, rows: int) -> Iterator[slice]:
    for start in range(0, n, rows):
        yield slice(start, min(n, start + rows))


# --------------------------------------------------------------------------------------------
# built-in datasets with closed-form densities


class _GaussianMixture(Dataset):
    """Equal-weight isotropic Gaussians with a common std."""

    def __init__(self, name: str, box: float, means: torch.Tensor, std: float) -> None:
        super().__init__(name, box, has_density=True)
        self.means = means.to(torch.float64)
        self.std = float(std)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        _check_n(n, gen)
        k = torch.randint(len(self.means), (n,), generator=gen)
        eps = torch.randn(n, 2, generator=gen, dtype=torch.float64)
        return (self.means[k] + self.std * eps).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = _as_points(x)
        out = torch.empty(len(p), dtype=torch.float64)
        s2 = self.std**2
        const = -math.log(len(self.means)) - _LOG_2PI - math.log(s2)
        for b in _blocks(len(p), _BLOCK_ROWS):
            d2 = (p[b, None, :] - self.means[None]).pow(2).sum(-1)
            out[b] = torch.logsumexp(-0.5 * d2 / s2, dim=1) + const
        return _like(out, x)


def _eight_gaussians(box: float, std: float | None) -> Dataset:
    """8 Gaussians at angles k*pi/4 on the circle of radius 2, std 0.2."""
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    means = 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return _GaussianMixture("8gaussians", box, means, std or 0.2)


def _twentyfive_gaussians(box: float, std: float | None) -> Dataset:
    """25 Gaussians on the grid {-2, -1, 0, 1, 2}^2, std 0.1."""
    g = torch.arange(-2, 3, dtype=torch.float64)
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    means = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    return _GaussianMixture("25gaussians", box, means, std or 0.1)


class _Rings(Dataset):
    """Concentric rings: x = (r + std * eps) * (cos t, sin t), ring chosen with mass ~ r.

    The radius ``R = r + std * eps`` may (with vanishing probability) be negative, which maps
    to the opposite point; the density folds both signs in:
    ``p(x) = sum_i w_i [N(rho; r_i, s) + N(-rho; r_i, s)] / (2 pi rho)``, rho = |x|.
    It is integrably infinite at the origin (``log_prob`` returns +inf there).
    """

    def __init__(self, box: float, radii: tuple[float, ...], std: float) -> None:
        super().__init__("rings", box, has_density=True)
        self.radii = torch.tensor(radii, dtype=torch.float64)
        self.weights = self.radii / self.radii.sum()
        self.std = float(std)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        _check_n(n, gen)
        if n == 0:
            return torch.empty(0, 2)
        k = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        t = 2.0 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
        radius = self.radii[k] + self.std * torch.randn(n, generator=gen, dtype=torch.float64)
        return (radius[:, None] * torch.stack([torch.cos(t), torch.sin(t)], dim=1)).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = _as_points(x)
        rho = torch.linalg.vector_norm(p, dim=1)[:, None]
        s = self.std
        log_norm = -math.log(s) - 0.5 * _LOG_2PI
        near = -0.5 * ((rho - self.radii) / s) ** 2
        far = -0.5 * ((rho + self.radii) / s) ** 2  # the folded negative-radius branch
        ring = torch.logaddexp(near, far) + log_norm + torch.log(self.weights)
        out = torch.logsumexp(ring, dim=1) - torch.log(2.0 * math.pi * rho[:, 0])
        return _like(out, x)


class _Checkerboard(Dataset):
    """Uniform on the 8 'black' 2x2 squares of [-4, 4]^2 (those with even i + j)."""

    def __init__(self, box: float) -> None:
        super().__init__("checkerboard", box, has_density=True)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        _check_n(n, gen)
        i = torch.randint(4, (n,), generator=gen)
        j = 2 * torch.randint(2, (n,), generator=gen) + i % 2  # i + j even
        u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        corner = torch.stack([i, j], dim=1).to(torch.float64) * 2.0 - 4.0
        return (corner + 2.0 * u).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = _as_points(x)
        inside = (p.abs() <= 4.0).all(dim=1)
        # Clamp so the closed edge x = 4 belongs to the last square (a null set either way).
        ij = torch.floor((p.clamp(-4.0, 4.0) + 4.0) / 2.0).clamp(0, 3).long()
        black = (ij.sum(dim=1) % 2) == 0
        out = torch.full((len(p),), -math.inf, dtype=torch.float64)
        out[inside & black] = -math.log(32.0)
        out[p.isnan().any(dim=1)] = math.nan
        return _like(out, x)


# --------------------------------------------------------------------------------------------
# curve-shaped datasets: Gaussian noise around parametric curves, density by quadrature

# Quadrature: composite Gauss-Legendre over the curve parameter, panels of equal arc length
# no longer than _PANEL_STDS noise stds, _GL_NODES nodes each. Against a 4x finer rule the log
# density agrees to ~1e-8 wherever it is within 30 nats of its peak (the tests check 1e-6);
# only the far tails, below e^-30 of the peak, are less exact. 1.0 stds gave 1e-11 at twice
# the cost, 2.0 stds 3e-7.
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
        return -0.5 * z**2 - 0.5 * _LOG_2PI - math.log(self.sd) - torch.log(b - a)

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
        _check_n(n, gen)
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
        p = _as_points(x)
        out = torch.empty(len(p), dtype=torch.float64)
        c = self.nodes
        cc = (c * c).sum(1)
        inv = 0.5 / self.std**2
        const = -_LOG_2PI - 2.0 * math.log(self.std)
        rows = max(1, min(_BLOCK_ROWS, _BLOCK_ELEMENTS // len(c)))
        for b in _blocks(len(p), rows):
            xb = p[b]
            # |x - c|^2 by expansion (one matmul); float64 keeps the cancellation harmless.
            d2 = ((xb * xb).sum(1, keepdim=True) - 2.0 * xb @ c.T + cc).clamp_(min=0.0)
            out[b] = torch.logsumexp(self.log_weights - inv * d2, dim=1) + const
        return _like(out, x)


def _moons(box: float, std: float | None, refine: int = 1) -> Dataset:
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


def _spirals(box: float, std: float | None, refine: int = 1) -> Dataset:
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


def _swissroll(box: float, std: float | None, refine: int = 1) -> Dataset:
    """2D swiss roll (sklearn): c(t) = 0.276 t (cos t, sin t), t ~ U[1.5 pi, 4.5 pi]."""

    def roll(t: torch.Tensor) -> torch.Tensor:
        return _SWISS_SCALE * t[:, None] * torch.stack([torch.cos(t), torch.sin(t)], dim=1)

    curves = [_Curve(roll, 1.5 * math.pi, 4.5 * math.pi, 1.0)]
    return _CurveNoise("swissroll", box, curves, std or 0.1, refine)


def _pinwheel(box: float, std: float | None, refine: int = 1) -> Dataset:
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


_BUILTINS: dict[str, Callable[[float, float | None], Dataset]] = {
    "8gaussians": _eight_gaussians,
    "25gaussians": _twentyfive_gaussians,
    "rings": lambda box, std: _Rings(box, (1.0, 2.0, 3.0), std or 0.1),
    "checkerboard": lambda box, std: _Checkerboard(box),  # std has no meaning here
    "moons": _moons,
    "spirals": _spirals,
    "pinwheel": _pinwheel,
    "swissroll": _swissroll,
}


# --------------------------------------------------------------------------------------------
# user data: points (CSV or drawn) and images


class PointsDataset(Dataset):
    """An empirical point set (CSV or drawn); ``sample`` draws points with replacement.

    There is no density (``has_density`` is false). When points fall outside
    ``[-box, box]^2`` the box grows to 1.1 * max |coordinate|, so grids and plots show them all.
    """

    def __init__(self, points: np.ndarray | None, box: float = 4.5, name: str = "drawn") -> None:
        pts = np.asarray(points, dtype=np.float64) if points is not None else np.empty((0, 2))
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise DataError(f"{name} points: expected an (n, 2) array, got shape {pts.shape}")
        if len(pts) == 0:
            raise DataError(f"{name} points: there are no points")
        if not np.isfinite(pts).all():
            raise DataError(f"{name} points: some coordinates are not finite numbers")
        reach = float(np.abs(pts).max())
        super().__init__(name, box if reach <= box else 1.1 * reach, has_density=False)
        self.points = torch.from_numpy(pts.copy())

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        _check_n(n, gen)
        idx = torch.randint(len(self.points), (n,), generator=gen)
        return self.points[idx].float()

    def _thumbnail(self, res: int) -> np.ndarray:
        p = self.points.numpy()
        edges = np.linspace(-self.box, self.box, res + 1)
        h, _, _ = np.histogram2d(p[:, 1], p[:, 0], bins=(edges, edges))  # rows follow y
        return h


class ImageDataset(Dataset):
    """A grayscale image as a piecewise-constant density on ``[-box, box]^2``.

    Bright pixels are likely: pixel density is proportional to its luminance (times alpha for
    images with transparency, so transparent areas are empty; 16-bit and float images keep
    their full precision). Image row 0 is the top edge (y = +box); the image is stretched to
    the square box whatever its aspect ratio. Images larger than 4096 pixels on a side are
    box-downsampled (mass-preserving) by an integer factor until they fit. ``sample`` picks a
    pixel with its probability, then a uniform point inside it; ``log_prob`` is -inf outside
    the box and on black pixels.
    """

    def __init__(self, path: str | os.PathLike[str], box: float = 4.5) -> None:
        super().__init__("image", box, has_density=True)
        self.path = os.fspath(path)
        img = _read_luminance(self.path)
        total = img.sum()
        if not total > 0:
            raise DataError(f"{self.path}: the image is entirely black, so it has no density")
        self.height, self.width = img.shape
        self.pixel_w = 2.0 * self.box / self.width
        self.pixel_h = 2.0 * self.box / self.height
        self.prob = torch.from_numpy(img / total)  # (height, width), row 0 at the top
        self._log_area = math.log(self.pixel_w * self.pixel_h)
        self._cdf = torch.cumsum(self.prob.reshape(-1), 0)
        self._last = int(self.prob.reshape(-1).nonzero().max())

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        _check_n(n, gen)
        u = torch.rand(n, generator=gen, dtype=torch.float64) * self._cdf[-1]
        # right=True skips zero-probability pixels (their CDF steps have zero width).
        idx = torch.searchsorted(self._cdf, u, right=True).clamp_(max=self._last)
        row, col = idx // self.width, idx % self.width
        jitter = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        x = -self.box + (col + jitter[:, 0]) * self.pixel_w
        y = self.box - (row + jitter[:, 1]) * self.pixel_h
        return torch.stack([x, y], dim=1).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = _as_points(x)
        inside = (p.abs() <= self.box).all(dim=1)
        col = torch.floor((p[:, 0] + self.box) / self.pixel_w).clamp(0, self.width - 1)
        row = torch.floor((self.box - p[:, 1]) / self.pixel_h).clamp(0, self.height - 1)
        col = col.nan_to_num(0.0).long()
        row = row.nan_to_num(0.0).long()
        # log of zero-probability (black) pixels is -inf, as it should be
        out = torch.where(inside, torch.log(self.prob[row, col]) - self._log_area, -math.inf)
        out[p.isnan().any(dim=1)] = math.nan
        return _like(out, x)

    def _thumbnail(self, res: int) -> np.ndarray:
        img = Image.fromarray(self.prob.numpy().astype(np.float32))  # mode "F"
        small = np.asarray(img.resize((res, res), Image.Resampling.BOX), dtype=np.float64)
        return small[::-1]  # image row 0 is the top; thumbnail row 0 is the lowest y


def _read_luminance(path: str) -> np.ndarray:
    """The image at ``path`` as a non-negative float64 (height, width) array."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such image file")
    try:
        # A decompression bomb is a refusal, not a warning.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w == 0 or h == 0:
                    raise DataError(f"{path}: the image has zero size ({w}x{h} pixels)")
                arr = _image_to_array(img)
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, ...) on bad files
        raise DataError(f"{path}: not a readable image ({e})") from e
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: the image has pixels that are not finite numbers")
    factor = math.ceil(max(arr.shape) / _MAX_IMAGE_SIDE)
    if factor > 1:
        arr = _box_reduce(arr, factor)
    return np.clip(arr, 0.0, None)


def _box_reduce(arr: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (partial blocks at the far edges average fewer)."""
    starts = [np.arange(0, n, factor) for n in arr.shape]
    sums = np.add.reduceat(np.add.reduceat(arr, starts[0], axis=0), starts[1], axis=1)
    counts = [np.diff(np.append(st, n)) for st, n in zip(starts, arr.shape)]
    return sums / np.outer(counts[0], counts[1])


def _image_to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return np.asarray(img, dtype=np.float64)  # keep 16-bit / float precision
    if "A" in img.getbands() or "transparency" in img.info:
        la = np.asarray(img.convert("LA"), dtype=np.float64)
        return la[..., 0] * la[..., 1] / 255.0
    return np.asarray(img.convert("L"), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# CSV points

# Python float() grammar minus underscores and exotic digits, so that the fast path (numpy)
# and the careful per-line scan accept the same numbers.
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE | re.ASCII
)


def load_csv_points(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an (n, 2) float64 array from a file of two numeric columns.

    Columns are separated by commas, semicolons or whitespace; an optional first line of two
    column names is a header; blank lines are skipped. Anything else, non-finite values and
    coordinates beyond 1e6 in magnitude raise a DataError naming the file and the 1-based line.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", errors="surrogateescape", newline=None) as f:
            first = f.readline()
            second = f.readline() if first else ""
    except OSError as e:
        raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from e
    header = _is_header(first)
    fast = _load_fast(name, skip=int(header), delimiter=_delimiter(second if header else first))
    if fast is not None:
        return fast
    return _scan_csv(name)  # accepts what numpy did not, or names the bad line


def _delimiter(line: str) -> str | None:
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return None  # whitespace


def _fields(line: str) -> list[str]:
    d = _delimiter(line)
    return [s.strip() for s in line.split(d)] if d else line.split()


def _is_header(line: str) -> bool:
    """Line 1 is a header when it has two non-empty fields and neither is a number."""
    fields = _fields(line.strip())
    return len(fields) == 2 and all(f and not _NUMBER.fullmatch(f) for f in fields)


def _load_fast(source: str | list[str], skip: int, delimiter: str | None) -> np.ndarray | None:
    """numpy's C parser on a file or a list of lines; None when it fails or finds a bad value.

    None is never an answer to the user: it sends the lines to the careful per-line parser.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the caller decides
            arr = np.loadtxt(
                source,
                delimiter=delimiter,
                skiprows=skip,
                comments=None,
                ndmin=2,
                dtype=np.float64,
                encoding="utf-8-sig",
            )
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        return None
    with np.errstate(invalid="ignore"):
        if not (np.abs(arr) <= _MAX_ABS).all():  # also catches NaN and inf
            return None
    return arr


# Lines per chunk of the careful pass: chunks numpy parses cleanly skip the Python loop, so an
# error on the last of 10^7 lines is still found in seconds.
_CHUNK_LINES = 1 << 16


def _scan_csv(name: str, fast: bool = True) -> np.ndarray:
    """Parse chunk by chunk; a chunk numpy rejects is parsed line by line to name the line."""
    parts: list[np.ndarray] = []
    try:
        with open(name, encoding="utf-8-sig", errors="surrogateescape", newline=None) as f:
            read = 0  # lines read so far
            while chunk := list(itertools.islice(f, _CHUNK_LINES)):
                first = read + 1  # line number of chunk[0]
                read += len(chunk)
                if first == 1 and _is_header(chunk[0]):
                    chunk, first = chunk[1:], 2
                filled = [line for line in chunk if not line.isspace()]
                if not filled:
                    continue
                arr = _load_fast(filled, 0, _delimiter(filled[0])) if fast else None
                if arr is None:
                    rows = [
                        _parse_line(name, lineno, raw.strip())
                        for lineno, raw in enumerate(chunk, start=first)
                        if raw.strip()
                    ]
                    arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
                parts.append(arr)
    except OSError as e:
        raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from e
    points = np.concatenate(parts) if parts else np.empty((0, 2))
    if len(points) == 0:
        raise DataError(f"{name}: no points")
    return points


def _parse_line(name: str, lineno: int, line: str) -> tuple[float, float]:
    where = f"{name} line {lineno}"
    shown = repr(line if len(line) <= 60 else line[:57] + "...")
    if any("\udc80" <= ch <= "\udcff" for ch in line):  # undecodable bytes
        raise DataError(f"{where}: not UTF-8 text, got {shown}")
    fields = _fields(line)
    if len(fields) != 2 or not all(_NUMBER.fullmatch(f) for f in fields):
        raise DataError(f"{where}: expected two numbers, got {shown}")
    a, b = float(fields[0]), float(fields[1])
    for v, text in ((a, fields[0]), (b, fields[1])):
        if not math.isfinite(v):
            raise DataError(f"{where}: {text!r} is not a finite number")
        if abs(v) > _MAX_ABS:
            raise DataError(f"{where}: {text} exceeds 1e6 in magnitude; rescale the points")
    return a, b


# --------------------------------------------------------------------------------------------
# factory


def make_dataset(cfg: DataConfig, points: np.ndarray | None = None) -> Dataset:
    """The dataset ``cfg`` describes; ``points`` supplies the points of ``drawn``."""
    std = cfg.std if cfg.std > 0 else None  # 0 means the dataset's own default
    if cfg.name in _BUILTINS:
        return _BUILTINS[cfg.name](cfg.box, std)
    if cfg.name == "csv":
        if not cfg.path:
            raise DataError("csv dataset: no file was chosen (data.path is empty)")
        return PointsDataset(load_csv_points(cfg.path), cfg.box, name="csv")
    if cfg.name == "image":
        if not cfg.path:
            raise DataError("image dataset: no file was chosen (data.path is empty)")
        return ImageDataset(cfg.path, cfg.box)
    if cfg.name == "drawn":
        return PointsDataset(points, cfg.box, name="drawn")
    raise ConfigError(f"unknown dataset {cfg.name!r}; expected one of: {', '.join(DATASETS)}")
