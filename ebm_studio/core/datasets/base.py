"""What every dataset is: the ``Dataset`` base class, ``DataError`` and the helpers the
dataset modules share.

Conventions: every random draw uses the caller's ``torch.Generator``; ``sample`` returns
float32 on the CPU; ``log_prob`` works in float64 internally, processes large inputs in blocks
and returns the dtype and device of its input.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np
import torch

# Rows per block for batched density evaluation: blocks of a few thousand rows keep the
# temporaries in cache, as for the sampler's chains (README.md, Performance).
BLOCK_ROWS = 4096
LOG_2PI = math.log(2.0 * math.pi)


class DataError(ValueError):
    """A bad user data file (or drawn point set); the message is one sentence naming it."""


class Dataset:
    """A 2D distribution with a bounding box ``[-box, box]^2``.

    Subclasses implement ``sample`` and, when ``has_density`` is true, ``log_prob``; those
    without a density override ``density_picture``. Image sets (``images.ImageSet``) have
    another ``event_shape``.
    """

    event_shape: tuple[int, ...] = (2,)

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
        """(res, res) picture of the density in [0, 1] (row 0 = lowest y), for the picker."""
        if res < 1:
            raise ValueError(f"thumbnail resolution must be positive, got {res}")
        if res not in self._thumbs:
            self._thumbs[res] = _normalise_picture(self.density_picture(res))
        return self._thumbs[res].copy()

    def density_picture(self, res: int) -> np.ndarray:
        """(res, res) non-negative picture proportional to the density (row 0 = lowest y).

        Each pixel averages the density at 2x2 sub-points, which also keeps the grid off the
        origin, where the rings density is (integrably) infinite.
        """
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


def check_sample_args(n: int, gen: torch.Generator) -> None:
    """Refuse a sample size that is not a non-negative integer, or a non-CPU generator."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"sample size must be a non-negative integer, got {n!r}")
    if gen.device.type != "cpu":
        raise ValueError("datasets sample on the CPU; pass a CPU torch.Generator")


def as_points(x: torch.Tensor) -> torch.Tensor:
    """Validate shape and promote to float64 on the CPU (all densities are computed there)."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"expected points of shape (n, 2), got {tuple(x.shape)}")
    return x.detach().to(device="cpu", dtype=torch.float64)


def like_input(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out`` in the device and (floating) dtype of the input ``x`` that ``log_prob`` got."""
    dtype = x.dtype if x.dtype.is_floating_point else torch.float32
    return out.to(device=x.device, dtype=dtype)


def row_blocks(n: int, rows: int) -> Iterator[slice]:
    """Slices of at most ``rows`` rows covering ``range(n)``."""
    for start in range(0, n, rows):
        yield slice(start, min(n, start + rows))


__all__ = [
    "BLOCK_ROWS",
    "LOG_2PI",
    "DataError",
    "Dataset",
    "as_points",
    "check_sample_args",
    "like_input",
    "row_blocks",
]
