"""A grayscale picture as a piecewise-constant density on the box (bright = likely)."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch
from PIL import Image

from .base import DataError, Dataset, as_points, check_sample_args, like_input

# Largest image side kept; larger images are box-downsampled (mass-preserving) to fit.
_MAX_IMAGE_SIDE = 4096


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
        check_sample_args(n, gen)
        u = torch.rand(n, generator=gen, dtype=torch.float64) * self._cdf[-1]
        # right=True skips zero-probability pixels (their CDF steps have zero width).
        idx = torch.searchsorted(self._cdf, u, right=True).clamp_(max=self._last)
        row, col = idx // self.width, idx % self.width
        jitter = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        x = -self.box + (col + jitter[:, 0]) * self.pixel_w
        y = self.box - (row + jitter[:, 1]) * self.pixel_h
        return torch.stack([x, y], dim=1).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        p = as_points(x)
        inside = (p.abs() <= self.box).all(dim=1)
        col = torch.floor((p[:, 0] + self.box) / self.pixel_w).clamp(0, self.width - 1)
        row = torch.floor((self.box - p[:, 1]) / self.pixel_h).clamp(0, self.height - 1)
        col = col.nan_to_num(0.0).long()
        row = row.nan_to_num(0.0).long()
        # log of zero-probability (black) pixels is -inf, as it should be
        out = torch.where(inside, torch.log(self.prob[row, col]) - self._log_area, -math.inf)
        out[p.isnan().any(dim=1)] = math.nan
        return like_input(out, x)

    def density_picture(self, res: int) -> np.ndarray:
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


__all__ = ["ImageDataset"]
