"""Panels drawn into a given matplotlib ``Axes``: landscape, points, true contours, buffer,
metric curves. Each takes plain data, so the composed figures, the studio's publication export
and a sweep's small multiples (one ``draw_landscape`` per axes, shared ``norm``) share them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..frames import ConfigChange, Event, Rollback
from .data import curve_points, grid_quantity
from .style import CURVE_COLOURS, QUANTITY_LABELS, check_quantity

SCATTER_MAX = 5000  # more points than this draw as a 2D histogram (a scatter turns to ink)
CHANGE_GID = "config-change"
EVAL_GID = "evaluation"


def landscape_norm(values: Sequence[np.ndarray]):
    """One linear colour scale over several grids (compare arms, sweep cells)."""
    from matplotlib.colors import Normalize

    finite = [v[np.isfinite(v)] for v in values]
    finite = [f for f in finite if f.size]
    if not finite:
        return Normalize(0.0, 1.0)
    lo = min(float(f.min()) for f in finite)
    hi = max(float(f.max()) for f in finite)
    return Normalize(lo, hi if hi > lo else lo + 1.0)


def draw_landscape(
    ax,
    energy: np.ndarray,
    box: float,
    quantity: str = "density",
    cmap: str = "viridis",
    norm=None,
    colorbar: bool = True,
    axis_labels: bool = True,
):
    """The model's ``quantity`` on the grid as an image over ``[-box, box]^2``; returns the
    ``AxesImage``. ``norm`` shares a colour scale between panels (``landscape_norm``)."""
    check_quantity(quantity)
    values = grid_quantity(energy, box, quantity)
    norm = norm or landscape_norm([values])
    im = ax.imshow(
        values,
        origin="lower",
        extent=(-box, box, -box, box),
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        aspect="equal",
    )
    ax.set_xlim(-box, box)
    ax.set_ylim(-box, box)
    if axis_labels:
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(QUANTITY_LABELS[quantity])
        cb.outline.set_linewidth(0.5)
    return im


def draw_points(
    ax,
    points: np.ndarray,
    box: float,
    *,
    over_landscape: bool = False,
    colour: str | None = None,
    bins: int = 120,
    cmap: str = "magma",
    label: str | None = None,
):
    """Samples or chains: a scatter (few points, or over a landscape) or a 2D histogram of
    square-root counts (many points, alone)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if over_landscape or len(pts) <= SCATTER_MAX:
        n = max(len(pts), 1)
        size = float(np.clip(400.0 / np.sqrt(n), 0.3, 6.0))
        default = "white" if over_landscape else ax.xaxis.label.get_color()
        art = ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=size,
            c=colour or default,
            alpha=0.6 if over_landscape else 0.5,
            linewidths=0,
            rasterized=len(pts) > 500,  # a vector file with 10k dots is slow to open
            label=label,
        )
    else:
        from matplotlib.colors import PowerNorm

        _, _, _, art = ax.hist2d(
            pts[:, 0],
            pts[:, 1],
            bins=bins,
            range=[[-box, box], [-box, box]],
            cmap=cmap,
            norm=PowerNorm(0.5),
            rasterized=True,
        )
    ax.set_xlim(-box, box)
    ax.set_ylim(-box, box)
    ax.set_aspect("equal")
    return art


def draw_true_contours(ax, true_log_p: np.ndarray, box: float, colour: str = "white", levels=3):
    """Contours of the exact data density (where the dataset has one): levels at fractions
    of its peak, so they read the same on any heatmap quantity."""
    d = np.exp(np.asarray(true_log_p, dtype=np.float64))
    res = d.shape[-1]
    h = 2 * box / res
    c = np.linspace(-box + h / 2, box - h / 2, res)
    top = float(np.nanmax(d)) if d.size else 0.0
    if not top > 0:
        return None
    fractions = np.geomspace(0.02, 0.6, levels) if isinstance(levels, int) else levels
    return ax.contour(
        c,
        c,
        d,
        levels=sorted(top * np.asarray(fractions)),
        colors=colour,
        linewidths=0.35,
        alpha=0.6,
    )


def draw_buffer(ax, buffer: np.ndarray, age: np.ndarray | None, box: float, cmap="cividis"):
    """Replay-buffer entries coloured by age (steps since each was restarted)."""
    pts = np.asarray(buffer, dtype=np.float64).reshape(-1, 2)
    n = max(len(pts), 1)
    size = float(np.clip(300.0 / np.sqrt(n), 0.3, 5.0))
    if age is None:
        return ax.scatter(pts[:, 0], pts[:, 1], s=size, c="white", linewidths=0, rasterized=True)
    art = ax.scatter(
        pts[:, 0],
        pts[:, 1],
        s=size,
        c=np.asarray(age, dtype=np.float64),
        cmap=cmap,
        linewidths=0,
        rasterized=len(pts) > 500,
    )
    cb = ax.figure.colorbar(art, ax=ax, fraction=0.046, pad=0.03)
    cb.set_label("buffer age (steps)")
    ax.set_xlim(-box, box)
    ax.set_ylim(-box, box)
    ax.set_aspect("equal")
    return art


def draw_curves(
    axes,
    history: Sequence[dict[str, float]],
    events: Sequence[Event] = (),
    *,
    log_kl: bool = False,
    style: str = "paper",
    label: str | None = None,
    linestyle: str = "-",
    mark_events: bool = True,
):
    """KL (top axes) and NLL (bottom axes) in nats over steps; evaluation points as markers;
    config changes as dashed vertical lines (``gid`` "config-change"), rollbacks dotted.
    ``axes`` is (kl_ax, nll_ax); a metric absent from ``history`` leaves its axes empty.
    Returns the number of curves drawn."""
    colours = CURVE_COLOURS[style]
    drawn = 0
    for ax, key, name in zip(axes, ("kl", "nll"), ("KL", "test NLL")):
        pts = curve_points(history, key)
        if len(pts) >= 1:
            sparse = len(pts) <= 60  # evaluation steps only: mark each measured point
            ax.plot(
                pts[:, 0],
                pts[:, 1],
                color=colours[key] if label is None else None,
                linestyle=linestyle,
                marker="o" if sparse else None,
                markersize=2.0,
                label=label,
                gid=EVAL_GID,
            )
            drawn += 1
        ax.set_ylabel(f"{name} (nats)")
        if key == "kl" and log_kl:
            log_axis(ax)
        if mark_events:
            mark_config_changes(ax, events, style)
    axes[-1].set_xlabel("training step")
    return drawn


def log_axis(ax) -> None:
    """A logarithmic y axis labelled in plain numbers (0.2, 0.3, 0.5, 1, ...): a KL falls over
    several decades, and "6 x 10^-1" reads worse than 0.6 in a small panel; minor ticks at
    2, 3 and 5 x 10^k are labelled so that a run within one decade still shows numbers."""
    from matplotlib.ticker import FuncFormatter

    def major(v, _pos) -> str:
        return f"{v:g}"

    def minor(v, _pos) -> str:
        lead = int(round(v / 10 ** np.floor(np.log10(v)))) if v > 0 else 0
        return f"{v:g}" if lead in (2, 3, 5) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(major))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def mark_config_changes(ax, events: Sequence[Event], style: str = "paper") -> list:
    """One dashed line per ``ConfigChange`` (as the studio marks them), dotted per
    ``Rollback``; returns the config-change lines."""
    colours = CURVE_COLOURS[style]
    lines = []
    for ev in events:
        if isinstance(ev, ConfigChange):
            line = ax.axvline(ev.step, color=colours["change"], lw=0.6, ls="--", zorder=0)
            line.set_gid(CHANGE_GID)
            lines.append(line)
        elif isinstance(ev, Rollback):
            ax.axvline(ev.step, color=colours["rollback"], lw=0.6, ls=":", zorder=0)
    return lines


def config_change_lines(ax) -> list:
    """The config-change markers drawn on ``ax`` (what a test or a caller counts)."""
    return [line for line in ax.get_lines() if line.get_gid() == CHANGE_GID]


__all__ = [
    "CHANGE_GID",
    "SCATTER_MAX",
    "config_change_lines",
    "draw_buffer",
    "draw_curves",
    "draw_landscape",
    "draw_points",
    "draw_true_contours",
    "landscape_norm",
    "mark_config_changes",
]
