"""Toy densities with closed forms: Gaussian mixtures (8 on a circle, 25 on a grid),
concentric rings and the checkerboard.

Each class draws exactly the generative process its density formula describes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .base import BLOCK_ROWS, LOG_2PI, Dataset, as_points, check_sample_args, like_input, row_blocks


class _GaussianMixture(Dataset):
    """Isotropic Gaussians with a common std; equal weights unless ``weights`` is given."""

    def __init__(
        self,
        name: str,
        box: float,
        means: torch.Tensor,
        std: float,
        weights: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__(name, box, has_density=True)
        self.means = means.to(torch.float64)
        self.std = float(std)
        k = len(self.means)
        # float64 from the start: 1/25 rounded in float32 shifts log p by ~1e-8.
        f64 = torch.float64
        w = (
            torch.full((k,), 1.0 / k, dtype=f64)
            if weights is None
            else torch.tensor(weights, dtype=f64)
        )
        self.weights = w / w.sum()
        self.equal = weights is None

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        check_sample_args(n, gen)
        if self.equal:  # the draw every equal-weight mixture has always made
            k = torch.randint(len(self.means), (n,), generator=gen)
        else:
            k = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        eps = torch.randn(n, 2, generator=gen, dtype=torch.float64)
        return (self.means[k] + self.std * eps).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = as_points(x)
        out = torch.empty(len(p), dtype=torch.float64)
        s2 = self.std**2
        const = -LOG_2PI - math.log(s2)
        logw = torch.log(self.weights)
        for b in row_blocks(len(p), BLOCK_ROWS):
            d2 = (p[b, None, :] - self.means[None]).pow(2).sum(-1)
            out[b] = torch.logsumexp(-0.5 * d2 / s2 + logw, dim=1) + const
        return like_input(out, x)


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


# The unequal mixture of exp-sm-weights: three well-separated modes holding 60/30/10 %.
UNEQUAL_WEIGHTS = (0.6, 0.3, 0.1)


def _unequal_gaussians(box: float, std: float | None) -> Dataset:
    """3 Gaussians at angles 90, 210 and 330 degrees on the circle of radius 2.5, std 0.3,
    weights 0.6 / 0.3 / 0.1: the modes are 4.3 apart (14 std), so the density between them
    is ~ e^-25 of the peaks and the score there belongs to the nearest mode alone."""
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * (math.pi / 180)
    means = 2.5 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return _GaussianMixture("unequal3", box, means, std or 0.3, UNEQUAL_WEIGHTS)


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
        check_sample_args(n, gen)
        if n == 0:
            return torch.empty(0, 2)
        k = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        t = 2.0 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
        radius = self.radii[k] + self.std * torch.randn(n, generator=gen, dtype=torch.float64)
        return (radius[:, None] * torch.stack([torch.cos(t), torch.sin(t)], dim=1)).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = as_points(x)
        rho = torch.linalg.vector_norm(p, dim=1)[:, None]
        s = self.std
        log_norm = -math.log(s) - 0.5 * LOG_2PI
        near = -0.5 * ((rho - self.radii) / s) ** 2
        far = -0.5 * ((rho + self.radii) / s) ** 2  # the folded negative-radius branch
        ring = torch.logaddexp(near, far) + log_norm + torch.log(self.weights)
        out = torch.logsumexp(ring, dim=1) - torch.log(2.0 * math.pi * rho[:, 0])
        return like_input(out, x)


class _Checkerboard(Dataset):
    """Uniform on the 8 'black' 2x2 squares of [-4, 4]^2 (those with even i + j)."""

    def __init__(self, box: float) -> None:
        super().__init__("checkerboard", box, has_density=True)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        check_sample_args(n, gen)
        i = torch.randint(4, (n,), generator=gen)
        j = 2 * torch.randint(2, (n,), generator=gen) + i % 2  # i + j even
        u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        corner = torch.stack([i, j], dim=1).to(torch.float64) * 2.0 - 4.0
        return (corner + 2.0 * u).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = as_points(x)
        inside = (p.abs() <= 4.0).all(dim=1)
        # Clamp so the closed edge x = 4 belongs to the last square (a null set either way).
        ij = torch.floor((p.clamp(-4.0, 4.0) + 4.0) / 2.0).clamp(0, 3).long()
        black = (ij.sum(dim=1) % 2) == 0
        out = torch.full((len(p),), -math.inf, dtype=torch.float64)
        out[inside & black] = -math.log(32.0)
        out[p.isnan().any(dim=1)] = math.nan
        return like_input(out, x)


# name -> factory(box, std or None for the dataset's default)
BUILTINS: dict[str, Callable[[float, float | None], Dataset]] = {
    "8gaussians": _eight_gaussians,
    "25gaussians": _twentyfive_gaussians,
    "rings": lambda box, std: _Rings(box, (1.0, 2.0, 3.0), std or 0.1),
    "checkerboard": lambda box, std: _Checkerboard(box),  # std has no meaning here
    "unequal3": _unequal_gaussians,
}

__all__ = ["BUILTINS"]
