"""Whole figures: a run's panels in a row with a title, compare arms side by side, saving.

Figures are ``matplotlib.figure.Figure`` objects on the Agg canvas (never pyplot, never Qt), so
a caller can inspect them before ``save_figure`` writes them atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence

import numpy as np

from ..atomic import atomic_write_bytes
from .data import RunData, compare_title, grid_quantity, title_text
from .panels import (
    draw_buffer,
    draw_curves,
    draw_landscape,
    draw_points,
    draw_true_contours,
    landscape_norm,
)
from .style import (
    DOUBLE_COLUMN_IN,
    RASTER_DPI,
    FigureError,
    check_format,
    check_panels,
    check_quantity,
    check_style,
    check_width,
    style_context,
)

DEFAULT_PANELS = ("landscape", "samples", "curves")


def new_figure(width_in: float, height_in: float):
    """A constrained-layout Figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _height(width_in: float, panels: Sequence[str]) -> float:
    squares = sum(1 for p in panels if p != "curves") + 1.3 * panels.count("curves")
    return width_in / squares * 0.92 + 0.3  # + the title line


def run_figure(
    run: RunData,
    panels: Iterable[str] | str = DEFAULT_PANELS,
    *,
    style: str = "paper",
    width_in: float = DOUBLE_COLUMN_IN,
    log_kl: bool = False,
    quantity: str = "density",
    cmap: str = "viridis",
    true_contours: bool = True,
    title: bool = True,
):
    """One run's figure: the named panels in a row. Raises ``FigureError`` (one sentence) for
    an unknown panel/style/quantity, a width out of range or curves the run does not have."""
    panels = check_panels(panels)
    check_style(style)
    width_in = check_width(width_in)
    check_quantity(quantity)
    if "curves" in panels and not run.has_curves():
        raise FigureError(
            "the run has no metric curves (fewer than two KL or NLL evaluations); "
            "allowed panels for it: landscape, samples"
        )
    if "landscape" in panels and run.energy is None:
        raise FigureError("the run has no energy grid to draw; allowed panels: samples, curves")
    if "samples" in panels and run.chains is None and run.data is None:
        raise FigureError("the run has no chains or data points to draw as samples")
    if "buffer" in panels and run.buffer is None:
        raise FigureError(
            f"the run's objective {run.objective or '(unknown)'} keeps no replay buffer; "
            "allowed panels for it: landscape, samples, curves"
        )
    with style_context(style):
        fig = new_figure(width_in, _height(width_in, panels))
        ratios = [1.3 if p == "curves" else 1.0 for p in panels]
        grid = fig.add_gridspec(2, len(panels), width_ratios=ratios)
        for i, p in enumerate(panels):
            if p == "curves":
                top = fig.add_subplot(grid[0, i])
                bottom = fig.add_subplot(grid[1, i], sharex=top)
                top.tick_params(labelbottom=False)
                draw_curves((top, bottom), run.history, run.events, log_kl=log_kl, style=style)
            else:
                ax = fig.add_subplot(grid[:, i])
                if p == "landscape":
                    _landscape_panel(ax, run, quantity, cmap, true_contours)
                elif p == "buffer":
                    _buffer_panel(ax, run)
                else:
                    _samples_panel(ax, run)
        if title:
            fig.suptitle(title_text(run))
    fig.ebm_style = style  # save_figure saves with the same style
    return fig


def _landscape_panel(ax, run: RunData, quantity: str, cmap: str, true_contours: bool) -> None:
    draw_landscape(ax, run.energy, run.box, quantity, cmap)
    if true_contours and run.true_log_p is not None:
        draw_true_contours(ax, run.true_log_p, run.box)
    ax.set_title(quantity)


def _samples_panel(ax, run: RunData) -> None:
    pts, what = (run.chains, "chains") if run.chains is not None else (run.data, "data")
    draw_points(ax, pts, run.box)
    ax.set_title(f"{what} ({len(pts)})")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def _buffer_panel(ax, run: RunData) -> None:
    draw_buffer(ax, run.buffer, run.buffer_age, run.box)
    ax.set_title("replay buffer by age")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def compare_figure(
    runs: Sequence[RunData],
    labels: Sequence[str],
    *,
    style: str = "paper",
    width_in: float = DOUBLE_COLUMN_IN,
    log_kl: bool = False,
    quantity: str = "density",
    cmap: str = "viridis",
):
    """Compare arms side by side on one shared colour scale (one colour bar), with their
    curves overlaid in a last column."""
    check_style(style)
    width_in = check_width(width_in)
    check_quantity(quantity)
    if any(r.energy is None for r in runs):
        raise FigureError("every arm needs an energy grid to be compared")
    curves = any(r.has_curves() for r in runs)
    with style_context(style):
        n = len(runs)
        fig = new_figure(width_in, width_in / (n + (1.3 if curves else 0)) * 0.92 + 0.3)
        grid = fig.add_gridspec(2, n + int(curves), width_ratios=[1.0] * n + [1.3] * curves)
        values = [grid_quantity(r.energy, r.box, quantity) for r in runs]
        norm = landscape_norm(values)
        axes = []
        for i, (run, label) in enumerate(zip(runs, labels)):
            ax = fig.add_subplot(grid[:, i])
            im = draw_landscape(ax, run.energy, run.box, quantity, cmap, norm, colorbar=False)
            ax.set_title(f"{label}: step {run.step}")
            axes.append(ax)
        from .style import QUANTITY_LABELS

        cb = fig.colorbar(im, ax=axes, fraction=0.046, pad=0.03)
        cb.set_label(QUANTITY_LABELS[quantity])
        if curves:
            top = fig.add_subplot(grid[0, n])
            bottom = fig.add_subplot(grid[1, n], sharex=top)
            top.tick_params(labelbottom=False)
            for k, (run, label) in enumerate(zip(runs, labels)):
                draw_curves(
                    (top, bottom),
                    run.history,
                    run.events,
                    log_kl=log_kl,
                    style=style,
                    label=label,
                    linestyle=("-", "--", ":", "-.")[k % 4],
                    mark_events=k == 0,
                )
            top.legend(loc="upper right")
        fig.suptitle(compare_title(runs, labels))
    fig.ebm_style = style
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = RASTER_DPI) -> None:
    """Write ``fig`` to ``path`` (.pdf, .svg, .png, .eps) atomically, in the style it was
    drawn with; rasters at ``dpi``."""
    fmt = check_format(path)
    style = getattr(fig, "ebm_style", "paper")
    buf = io.BytesIO()
    with style_context(style):
        fig.savefig(buf, format=fmt, dpi=dpi, facecolor=fig.get_facecolor())
    # Through atomic_write_bytes for its fsync: a full disk is reported here, not lost later.
    atomic_write_bytes(path, buf.getvalue())


def figure_rgb(fig, dpi: int | None = None) -> np.ndarray:
    """The figure rendered by Agg as an (h, w, 3) uint8 array."""
    if dpi is not None:
        fig.set_dpi(dpi)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


__all__ = [
    "DEFAULT_PANELS",
    "compare_figure",
    "figure_rgb",
    "new_figure",
    "run_figure",
    "save_figure",
]
