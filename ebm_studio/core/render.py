"""Headless figure rendering (numpy + Pillow, no Qt): the CLI's landscape and sample images."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from .atomic import atomic_write_bytes

# Key colours of matplotlib's perceptually uniform maps (interpolated linearly).
_MAPS = {
    "viridis": [
        "#440154",
        "#482878",
        "#3e4989",
        "#31688e",
        "#26828e",
        "#1f9e89",
        "#35b779",
        "#6ece58",
        "#b5de2b",
        "#fde725",
    ],
    "inferno": [
        "#000004",
        "#1b0c41",
        "#4a0c6b",
        "#781c6d",
        "#a52c60",
        "#cf4446",
        "#ed6925",
        "#fb9b06",
        "#f7d13d",
        "#fcffa4",
    ],
    "magma": [
        "#000004",
        "#180f3d",
        "#440f76",
        "#721f81",
        "#9e2f7f",
        "#cd4071",
        "#f1605d",
        "#fd9668",
        "#feca8d",
        "#fcfdbf",
    ],
    "plasma": [
        "#0d0887",
        "#46039f",
        "#7201a8",
        "#9c179e",
        "#bd3786",
        "#d8576b",
        "#ed7953",
        "#fb9f3a",
        "#fdca26",
        "#f0f921",
    ],
    "cividis": [
        "#00224e",
        "#123570",
        "#3b496c",
        "#575d6d",
        "#707173",
        "#8a8779",
        "#a69d75",
        "#c4b56c",
        "#e4cf5b",
        "#fee838",
    ],
}


def colormap_lut(name: str = "viridis", n: int = 256) -> np.ndarray:
    """(n, 3) uint8 lookup table."""
    keys = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _MAPS[name]], float)
    t = np.linspace(0, 1, len(keys))
    s = np.linspace(0, 1, n)
    return np.stack([np.interp(s, t, keys[:, c]) for c in range(3)], 1).round().astype(np.uint8)


def density_image(density: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Map a (res, res) array with rows = y upward to an RGB image (row 0 at the top)."""
    d = np.asarray(density, dtype=np.float64)
    finite = np.isfinite(d)
    lo = np.min(d[finite]) if finite.any() else 0.0
    hi = np.percentile(d[finite], 99.5) if finite.any() else 1.0
    t = np.clip((np.where(finite, d, lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    lut = colormap_lut(cmap)
    return lut[(t * 255).astype(np.int64)][::-1]


def points_histogram(points: np.ndarray, box: float, res: int = 200) -> np.ndarray:
    h, _, _ = np.histogram2d(points[:, 1], points[:, 0], bins=res, range=[[-box, box]] * 2)
    return h


def png_bytes(rgb: np.ndarray, scale: int = 1) -> bytes:
    img = Image.fromarray(rgb)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | os.PathLike, rgb: np.ndarray, scale: int = 1) -> None:
    atomic_write_bytes(path, png_bytes(rgb, scale))


def side_by_side(*images: np.ndarray, gap: int = 4) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    parts = []
    for k, img in enumerate(images):
        if k:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
        parts.append(img)
    return np.concatenate(parts, axis=1)
