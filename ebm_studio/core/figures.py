"""Headless figures and animations (numpy + Pillow, no Qt) for the CLI's plot and sample.

The combined figure is landscape | samples | metric curves. PNG is rendered at any resolution;
SVG embeds the two images as PNG data and draws the curves as vector polylines.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .render import density_image, png_bytes, points_histogram

CURVE_KEYS = ("kl", "nll", "loss", "log_z_error")
_CURVE_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")


def grid_density(trainer, res: int) -> np.ndarray:
    e = torch.from_numpy(trainer.energy_grid(res)).double()
    return torch.softmax(-e.reshape(-1), 0).reshape(res, res).numpy()


def landscape_rgb(trainer, res: int, cmap: str = "viridis") -> np.ndarray:
    return density_image(grid_density(trainer, res), cmap)


def overlay_points(rgb: np.ndarray, pts: np.ndarray, box: float, colour=(255, 255, 255)):
    """Draw points (N, 2) onto an RGB image of the box (row 0 = top = +box)."""
    h, w = rgb.shape[:2]
    out = rgb.copy()
    if len(pts) == 0:
        return out
    c = ((pts[:, 0] + box) / (2 * box) * w).astype(np.int64)
    r = ((box - pts[:, 1]) / (2 * box) * h).astype(np.int64)
    ok = (c >= 0) & (c < w) & (r >= 0) & (r < h)
    out[r[ok], c[ok]] = colour
    return out


def samples_rgb(trainer, res: int) -> np.ndarray:
    ch = trainer.objective.chains()
    pts = trainer.test_x.cpu().numpy() if ch is None else ch.cpu().numpy()
    return density_image(np.sqrt(points_histogram(pts, trainer.box, res)), "magma")


def _smooth(ys: np.ndarray) -> np.ndarray:
    """Moving average over ~1% of the points: a per-step loss is mostly noise when drawn raw."""
    k = max(1, len(ys) // 100)
    if k == 1:
        return ys
    c = np.cumsum(np.insert(ys, 0, 0.0))
    head = c[1:k] / np.arange(1, k)
    return np.concatenate([head, (c[k:] - c[:-k]) / k])


def curves_image(history: list[dict], width: int, height: int) -> Image.Image:
    """One small panel per metric (own y range, title with the last value), stacked."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    series = []
    for key, colour in zip(CURVE_KEYS, _CURVE_COLOURS):
        pts = [(r["step"], r[key]) for r in history if key in r and math.isfinite(r[key])]
        if len(pts) >= 2:
            series.append((key, colour, np.array(pts, dtype=np.float64)))
    if not series:
        return img
    font = ImageFont.load_default(size=max(10, height // 30))
    small = ImageFont.load_default(size=max(9, height // 40))
    pad = max(8, width // 40)
    title_h = font.size + 6
    steps = np.concatenate([s[2][:, 0] for s in series])
    x0, x1 = float(steps.min()), float(steps.max())
    row = (height - pad - small.size) / len(series)
    line_w = max(1, width // 400)
    for n, (key, colour, pts) in enumerate(series):
        top = pad + n * row + title_h
        bottom = pad + (n + 1) * row - pad / 2
        left, right = pad, width - pad
        xs, ys = pts[:, 0], pts[:, 1]
        shown = _smooth(ys) if key == "loss" else ys
        lo, hi = float(np.percentile(shown, 1)), float(np.percentile(shown, 99))
        hi = hi if hi > lo else lo + 1
        d.rectangle([left, top, right, bottom], outline="#888888")
        d.text((left, top - title_h + 2), f"{key}  {ys[-1]:.4g}", fill=colour, font=font)
        d.text(
            (right, top - title_h + 4),
            f"{lo:.3g} .. {hi:.3g}",
            fill="#666666",
            font=small,
            anchor="ra",
        )
        px = left + (xs - x0) / max(x1 - x0, 1) * (right - left)
        py = bottom - (np.clip(shown, lo, hi) - lo) / (hi - lo) * (bottom - top)
        d.line(list(zip(px.tolist(), py.tolist())), fill=colour, width=line_w)
        if len(xs) <= 50:  # sparse (evaluation steps only): mark the measured points
            r = 2 + line_w
            for a, b in zip(px.tolist(), py.tolist()):
                d.ellipse([a - r, b - r, a + r, b + r], fill=colour)
    d.text(
        (width - pad, height - 2),
        f"step {x0:.0f} .. {x1:.0f}",
        fill="#666666",
        font=small,
        anchor="rd",
    )
    return img


def combined_png(trainer, width: int = 1500) -> bytes:
    panel = width // 3
    land = Image.fromarray(landscape_rgb(trainer, 256)).resize((panel, panel), Image.BILINEAR)
    samp = Image.fromarray(samples_rgb(trainer, 200)).resize((panel, panel), Image.NEAREST)
    curves = curves_image(trainer.history, width - 2 * panel, panel)
    fig = Image.new("RGB", (width, panel), "white")
    fig.paste(land, (0, 0))
    fig.paste(samp, (panel, 0))
    fig.paste(curves, (2 * panel, 0))
    buf = io.BytesIO()
    fig.save(buf, format="PNG")
    return buf.getvalue()


def combined_svg(trainer, size: int = 400) -> str:
    def embed(rgb: np.ndarray, x: int) -> str:
        data = base64.b64encode(png_bytes(rgb)).decode()
        return (
            f'<image x="{x}" y="0" width="{size}" height="{size}" '
            f'href="data:image/png;base64,{data}"/>'
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * size}" height="{size}" '
        f'viewBox="0 0 {3 * size} {size}">',
        embed(landscape_rgb(trainer, 256), 0),
        embed(samples_rgb(trainer, 200), size),
        f'<rect x="{2 * size}" y="0" width="{size}" height="{size}" fill="white" stroke="#888"/>',
    ]
    for i, (key, colour) in enumerate(zip(CURVE_KEYS, _CURVE_COLOURS)):
        pts = [(r["step"], r[key]) for r in trainer.history if key in r and math.isfinite(r[key])]
        if len(pts) < 2:
            continue
        xs = np.array([p[0] for p in pts])
        ys = np.array([p[1] for p in pts])
        lo, hi = float(ys.min()), float(ys.max())
        hi = hi if hi > lo else lo + 1
        px = 2 * size + 10 + (xs - xs.min()) / max(xs.max() - xs.min(), 1) * (size - 20)
        py = size - 10 - (ys - lo) / (hi - lo) * (size - 20)
        poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))
        parts.append(f'<polyline fill="none" stroke="{colour}" points="{poly}"/>')
        parts.append(
            f'<text x="{2 * size + 14}" y="{20 + 14 * i}" fill="{colour}" '
            f'font-size="12">{key}: {ys[-1]:.4g}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def save_figure(trainer, path: str | os.PathLike, width: int = 1500) -> None:
    p = Path(path)
    if p.suffix.lower() == ".svg":
        atomic_write_text(p, combined_svg(trainer, max(width // 3, 100)))
    elif p.suffix.lower() == ".png":
        atomic_write_bytes(p, combined_png(trainer, width))
    else:
        raise ValueError(f"{p.name}: unsupported figure format; use .png or .svg")


def write_animation(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: int = 20):
    """GIF with Pillow (always available); MP4 with imageio-ffmpeg (the ``video`` extra)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".gif":
        images = [Image.fromarray(f) for f in frames]
        with atomic_path(p) as tmp:
            images[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=max(1000 // fps, 20),
                loop=0,
            )
    elif ext == ".mp4":
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise ValueError(
                f"{p.name}: MP4 needs the video extra (pip install 'ebm-studio[video]'); "
                "use .gif instead"
            ) from None
        with atomic_path(p) as tmp:
            try:
                w = imageio.get_writer(tmp, format="FFMPEG", fps=fps, macro_block_size=1)
            except Exception:
                raise ValueError(
                    f"{p.name}: MP4 needs imageio-ffmpeg (pip install 'ebm-studio[video]')"
                ) from None
            with w:
                for f in frames:
                    w.append_data(f)
    else:
        raise ValueError(f"{p.name}: unsupported animation format; use .gif or .mp4")
