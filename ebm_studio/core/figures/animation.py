"""Animations with axes and a colour bar: the frame (landscape, ticks, labels, colour bar) is
rendered once by matplotlib, and each frame composites only the moving points into a copy of
it, which keeps a 200-frame GIF of 2000 chains to seconds (bench/figures_bench.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .compose import figure_rgb, new_figure
from .panels import draw_landscape
from .style import SINGLE_COLUMN_IN, style_context

ANIMATION_FORMATS = (".gif", ".mp4")


class AxesFrame:
    """A pre-rendered landscape figure and the map from data coordinates to its pixels."""

    def __init__(
        self,
        energy: np.ndarray,
        box: float,
        *,
        quantity: str = "density",
        cmap: str = "viridis",
        style: str = "dark",
        width_in: float = SINGLE_COLUMN_IN,
        dpi: int = 150,
        title: str = "",
        norm=None,
        extent: tuple[float, float, float, float] | None = None,
    ) -> None:
        """``norm`` (a matplotlib ``Normalize`` or ``(lo, hi)``) fixes the colour bar's scale,
        e.g. to a studio view's colour levels; ``extent`` ``(x0, x1, y0, y1)`` is the data
        range the axes show (default the box), e.g. a zoomed view's range."""
        from matplotlib.colors import Normalize

        self.box = float(box)
        self.extent = tuple(map(float, extent)) if extent is not None else (-box, box) * 2
        if norm is not None and not isinstance(norm, Normalize):
            norm = Normalize(*map(float, norm))
        with style_context(style):
            fig = new_figure(width_in, width_in * 0.88)
            ax = fig.add_subplot()
            draw_landscape(ax, energy, box, quantity, cmap, norm=norm)
            x0, x1, y0, y1 = self.extent
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            if title:
                ax.set_title(title)
            self.title_artist = ax.title
            rgb = figure_rgb(fig, dpi)
        # Even sizes: H.264 (MP4) needs them.
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
        self.background = np.ascontiguousarray(rgb[:h, :w])
        # Pixel position of the extent's corners (Agg's origin is bottom-left, arrays'
        # top-left).
        (x0, y0), (x1, y1) = ax.transData.transform([(x0, y0), (x1, y1)])
        self.px = (float(x0), float(x1))
        self.py = (rgb.shape[0] - float(y0), rgb.shape[0] - float(y1))
        self.size = (w, h)

    def pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of ``points`` (n, 2) inside the axes."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        x0, x1, y0, y1 = self.extent
        tx, ty = (p[:, 0] - x0) / (x1 - x0), (p[:, 1] - y0) / (y1 - y0)
        c = np.round(self.px[0] + tx * (self.px[1] - self.px[0])).astype(np.int64)
        r = np.round(self.py[0] + ty * (self.py[1] - self.py[0])).astype(np.int64)
        lo_c, hi_c = sorted(self.px)
        lo_r, hi_r = sorted(self.py)
        ok = (c >= lo_c + 1) & (c < hi_c - 1) & (r >= lo_r + 1) & (r < hi_r - 1)
        return r[ok], c[ok]

    def frame(self, points: np.ndarray, colour=(255, 255, 255)) -> np.ndarray:
        """A copy of the background with ``points`` drawn as 2x2 dots."""
        out = self.background.copy()
        r, c = self.pixels(points)
        for dr in (0, 1):
            for dc in (0, 1):
                out[r + dr - 1, c + dc - 1] = colour
        return out

    def place(self, image: np.ndarray) -> np.ndarray:
        """The background with ``image`` (a picture of the extent, row 0 at the top) resized
        into the axes: a studio recording frame gets the figure's axes and colour bar."""
        from PIL import Image

        out = self.background.copy()
        c0, c1 = (round(v) for v in sorted(self.px))
        r0, r1 = (round(v) for v in sorted(self.py))
        pic = Image.fromarray(np.ascontiguousarray(image[..., :3])).resize(
            (c1 - c0, r1 - r0), Image.BILINEAR
        )
        out[r0:r1, c0:c1] = np.asarray(pic)
        return out


def check_animation_path(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    if ext not in ANIMATION_FORMATS:
        from .style import FigureError

        raise FigureError(
            f"{Path(path).name}: unsupported animation format {ext or '(no suffix)'}; "
            "allowed: .gif, .mp4"
        )
    return ext


def write_animation(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: int = 20):
    """GIF with Pillow (always available); MP4 with imageio-ffmpeg (the ``video`` extra)."""
    from PIL import Image

    p = Path(path)
    ext = check_animation_path(p)
    if ext == ".gif":
        images = [Image.fromarray(f) for f in frames]
        # One palette for the whole animation (the first frame's): quantising each frame
        # afresh costs most of a GIF's time and makes the colour bar flicker.
        pal = images[0].quantize(colors=255, method=Image.Quantize.MEDIANCUT)
        images = [pal] + [im.quantize(palette=pal, dither=Image.Dither.NONE) for im in images[1:]]
        with atomic_path(p) as tmp:
            images[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=max(1000 // fps, 20),
                loop=0,
            )
        return
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise ValueError(
            f"{p.name}: MP4 needs the video extra (pip install 'ebm-studio[video]'); "
            "use .gif instead"
        ) from None
    with atomic_path(p) as tmp:
        # ffmpeg picks the container from the suffix: write "<tmp>.mp4", then move it onto
        # the temporary that atomic_path renames.
        video = tmp.with_name(tmp.name + ".mp4")
        try:
            try:
                w = imageio.get_writer(video, format="FFMPEG", fps=fps, macro_block_size=1)
            except Exception:
                raise ValueError(
                    f"{p.name}: MP4 needs imageio-ffmpeg (pip install 'ebm-studio[video]')"
                ) from None
            with w:
                for f in frames:
                    w.append_data(f)
            os.replace(video, tmp)
        finally:
            video.unlink(missing_ok=True)


__all__ = ["ANIMATION_FORMATS", "AxesFrame", "check_animation_path", "write_animation"]
