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
from .render import density_image, png_bytes, points_histogram, save_png, side_by_side

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


def _curve_panels(history: list[dict], width: int, height: int, title: float, small: float):
    """Layout shared by the PNG and SVG figures: one panel per metric, stacked, each with its
    own y range (1st..99th percentile; the per-step loss smoothed), on a common step axis.
    Returns (panels, (first step, last step)); each panel is a dict with key, colour, the
    frame (left, top, right, bottom), title text, range text, pixel xs/ys and ``sparse``."""
    series = []
    for key, colour in zip(CURVE_KEYS, _CURVE_COLOURS):
        pts = [(r["step"], r[key]) for r in history if key in r and math.isfinite(r[key])]
        if len(pts) >= 2:
            series.append((key, colour, np.array(pts, dtype=np.float64)))
    if not series:
        return [], (0.0, 0.0)
    pad = max(8, width // 40)
    title_h = title + 6
    steps = np.concatenate([s[2][:, 0] for s in series])
    x0, x1 = float(steps.min()), float(steps.max())
    row = (height - pad - small) / len(series)
    panels = []
    for n, (key, colour, pts) in enumerate(series):
        top = pad + n * row + title_h
        bottom = pad + (n + 1) * row - pad / 2
        left, right = pad, width - pad
        xs, ys = pts[:, 0], pts[:, 1]
        shown = _smooth(ys) if key == "loss" else ys
        lo, hi = float(np.percentile(shown, 1)), float(np.percentile(shown, 99))
        hi = hi if hi > lo else lo + 1
        panels.append(
            {
                "key": key,
                "colour": colour,
                "frame": (left, top, right, bottom),
                "title": f"{key}  {ys[-1]:.4g}",
                "title_y": top - title_h + 2,
                "range": f"{lo:.3g} .. {hi:.3g}",
                "px": left + (xs - x0) / max(x1 - x0, 1) * (right - left),
                "py": bottom - (np.clip(shown, lo, hi) - lo) / (hi - lo) * (bottom - top),
                "sparse": len(xs) <= 50,  # evaluation steps only: mark the measured points
            }
        )
    return panels, (x0, x1)


def curves_image(history: list[dict], width: int, height: int) -> Image.Image:
    """One small panel per metric (own y range, title with the last value), stacked."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(10, height // 30))
    small = ImageFont.load_default(size=max(9, height // 40))
    panels, (x0, x1) = _curve_panels(history, width, height, font.size, small.size)
    if not panels:
        return img
    line_w = max(1, width // 400)
    for p in panels:
        left, top, right, bottom = p["frame"]
        d.rectangle([left, top, right, bottom], outline="#888888")
        d.text((left, p["title_y"]), p["title"], fill=p["colour"], font=font)
        d.text((right, p["title_y"] + 2), p["range"], fill="#666666", font=small, anchor="ra")
        pts = list(zip(p["px"].tolist(), p["py"].tolist()))
        d.line(pts, fill=p["colour"], width=line_w)
        if p["sparse"]:
            r = 2 + line_w
            for a, b in pts:
                d.ellipse([a - r, b - r, a + r, b + r], fill=p["colour"])
    pad = max(8, width // 40)
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
    """Landscape and samples embedded as PNG; the curves as vector panels laid out like the
    PNG figure's (one per metric, own y range)."""

    def embed(rgb: np.ndarray, x: int) -> str:
        data = base64.b64encode(png_bytes(rgb)).decode()
        return (
            f'<image x="{x}" y="0" width="{size}" height="{size}" '
            f'href="data:image/png;base64,{data}"/>'
        )

    ox = 2 * size
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * size}" height="{size}" '
        f'viewBox="0 0 {3 * size} {size}">',
        embed(landscape_rgb(trainer, 256), 0),
        embed(samples_rgb(trainer, 200), size),
        f'<rect x="{ox}" y="0" width="{size}" height="{size}" fill="white"/>',
    ]
    title, small = max(10, size // 30), max(9, size // 40)
    panels, (x0, x1) = _curve_panels(trainer.history, size, size, title, small)
    for p in panels:
        left, top, right, bottom = p["frame"]
        c = p["colour"]
        parts.append(
            f'<rect x="{ox + left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
            f'height="{bottom - top:.1f}" fill="none" stroke="#888"/>'
        )
        ty = p["title_y"] + title
        parts.append(
            f'<text x="{ox + left:.1f}" y="{ty:.1f}" fill="{c}" font-size="{title}">'
            f"{p['title']}</text>"
        )
        parts.append(
            f'<text x="{ox + right:.1f}" y="{ty:.1f}" fill="#666" font-size="{small}" '
            f'text-anchor="end">{p["range"]}</text>'
        )
        poly = " ".join(f"{ox + a:.1f},{b:.1f}" for a, b in zip(p["px"], p["py"]))
        parts.append(f'<polyline fill="none" stroke="{c}" points="{poly}"/>')
        if p["sparse"]:
            parts.extend(
                f'<circle cx="{ox + a:.1f}" cy="{b:.1f}" r="3" fill="{c}"/>'
                for a, b in zip(p["px"], p["py"])
            )
    if panels:
        parts.append(
            f'<text x="{3 * size - 8}" y="{size - 3}" fill="#666" font-size="{small}" '
            f'text-anchor="end">step {x0:.0f} .. {x1:.0f}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def write_run_figures(trainer, out: str | os.PathLike, samples: int = 20000) -> None:
    """``landscape.png`` (the model density) and ``samples.png`` (data | exact samples of the
    model's grid density | the training chains) into the folder ``out``."""
    out = Path(out)
    res = 256
    dens = grid_density(trainer, res)
    save_png(out / "landscape.png", density_image(dens), scale=2)
    # Exact samples from the grid density (categorical over cells, uniform within a cell).
    g = torch.Generator().manual_seed(0)
    idx = torch.multinomial(torch.from_numpy(dens.reshape(-1)), samples, True, generator=g)
    h = 2 * trainer.box / res
    xy = torch.stack([idx % res, idx // res], 1).double() * h - trainer.box
    xy = (xy + torch.rand(samples, 2, generator=g, dtype=torch.float64) * h).numpy()
    data = trainer.test_x.cpu().numpy()
    panels = [points_histogram(data, trainer.box, 200), points_histogram(xy, trainer.box, 200)]
    ch = trainer.objective.chains()
    if ch is not None:
        panels.append(points_histogram(ch.cpu().numpy(), trainer.box, 200))
    imgs = [density_image(np.sqrt(p), "magma") for p in panels]
    save_png(out / "samples.png", side_by_side(*imgs), scale=2)


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
