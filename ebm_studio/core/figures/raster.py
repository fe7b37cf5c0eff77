"""Small RGB pictures without axes (the studio's dataset thumbnails), with matplotlib's exact
colour maps."""

from __future__ import annotations

import numpy as np

from .style import colormap_lut


def density_image(density: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Map a (res, res) array with rows = y upward to an RGB image (row 0 at the top)."""
    d = np.asarray(density, dtype=np.float64)
    finite = np.isfinite(d)
    lo = np.min(d[finite]) if finite.any() else 0.0
    hi = np.percentile(d[finite], 99.5) if finite.any() else 1.0
    t = np.clip((np.where(finite, d, lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    return colormap_lut(cmap)[(t * 255).astype(np.int64)][::-1]


def points_histogram(points: np.ndarray, box: float, res: int = 200) -> np.ndarray:
    """Counts of ``points`` (n, 2) in res x res cells over the box (rows = y)."""
    h, _, _ = np.histogram2d(points[:, 1], points[:, 0], bins=res, range=[[-box, box]] * 2)
    return h


__all__ = ["density_image", "points_histogram"]
