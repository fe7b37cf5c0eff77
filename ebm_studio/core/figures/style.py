"""Figure styles, sizes and formats, and the checks that turn bad choices into one sentence.

``paper`` is light and sans-serif, sized for a journal column (3.35 in single, 6.75 in double)
with 300 dpi rasters; ``dark`` matches the studio's screen theme.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

import numpy as np

SINGLE_COLUMN_IN = 3.35
DOUBLE_COLUMN_IN = 6.75
MIN_WIDTH_IN, MAX_WIDTH_IN = 2.0, 20.0
RASTER_DPI = 300
PANELS = ("landscape", "samples", "buffer", "curves")
FORMATS = ("pdf", "svg", "png", "eps")
QUANTITIES = ("energy", "density", "log-density")
# What each heatmap quantity shows and its unit: the colour bar's label.
QUANTITY_LABELS = {
    "energy": "energy E(x) (nats)",
    "density": "density p(x) (per unit area)",
    "log-density": "log-density log p(x) (nats)",
}

_COMMON = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 7.0,
    "axes.titlesize": 7.0,
    "axes.labelsize": 7.0,
    "xtick.labelsize": 6.0,
    "ytick.labelsize": 6.0,
    "legend.fontsize": 6.0,
    "figure.titlesize": 7.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 2.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "savefig.bbox": "standard",
    # Text stays text in vector files: TrueType (Type 42) fonts in PDF/EPS, <text> in SVG.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
}

STYLES: dict[str, dict] = {
    "paper": {
        **_COMMON,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "axes.edgecolor": "#222222",
        "axes.labelcolor": "#222222",
        "text.color": "#222222",
        "xtick.color": "#222222",
        "ytick.color": "#222222",
        "axes.grid": False,
        "legend.frameon": False,
    },
    "dark": {
        **_COMMON,
        "font.size": 8.0,
        "figure.facecolor": "#15161a",
        "axes.facecolor": "#15161a",
        "savefig.facecolor": "#15161a",
        "axes.edgecolor": "#8a8d96",
        "axes.labelcolor": "#d8dae0",
        "text.color": "#d8dae0",
        "xtick.color": "#b0b3bb",
        "ytick.color": "#b0b3bb",
        "axes.grid": False,
        "legend.frameon": False,
    },
}
# Curve colours per style (the studio's KL red and NLL blue).
CURVE_COLOURS = {
    "paper": {"kl": "#c0392b", "nll": "#1f5fa8", "change": "#555555", "rollback": "#d35400"},
    "dark": {"kl": "#ff6b5e", "nll": "#5aa9ff", "change": "#9a9da6", "rollback": "#ffa040"},
}
POINT_COLOURS = {"paper": "white", "dark": "white"}


class FigureError(ValueError):
    """A figure request that cannot be drawn; the message is one sentence for the user."""


def check_style(style: str) -> str:
    if style not in STYLES:
        raise FigureError(f"unknown style {style!r}; allowed styles: {', '.join(STYLES)}")
    return style


def check_width(width_in: float) -> float:
    if not (MIN_WIDTH_IN <= float(width_in) <= MAX_WIDTH_IN):
        raise FigureError(
            f"width {width_in:g} in is out of range; allowed: {MIN_WIDTH_IN:g} to "
            f"{MAX_WIDTH_IN:g} inches (single column {SINGLE_COLUMN_IN}, double "
            f"{DOUBLE_COLUMN_IN})"
        )
    return float(width_in)


def check_panels(panels: Iterable[str] | str) -> tuple[str, ...]:
    """``"landscape,samples"`` or a list -> a tuple of known panel names (at least one)."""
    items = panels.split(",") if isinstance(panels, str) else list(panels)
    names = tuple(p.strip() for p in items if p.strip())
    for p in names:
        if p not in PANELS:
            raise FigureError(f"unknown panel {p!r}; allowed panels: {', '.join(PANELS)}")
    if not names:
        raise FigureError(f"no panel named; allowed panels: {', '.join(PANELS)}")
    return names


def check_format(path) -> str:
    """The file format from ``path``'s suffix (pdf, svg, png, eps)."""
    from pathlib import Path

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        shown = p.suffix or "(no suffix)"
        raise FigureError(
            f"{p.name}: unsupported figure format {shown}; allowed: "
            + ", ".join(f".{f}" for f in FORMATS)
        )
    return fmt


def check_quantity(quantity: str) -> str:
    if quantity not in QUANTITIES:
        raise FigureError(f"unknown quantity {quantity!r}; allowed: {', '.join(QUANTITIES)}")
    return quantity


@contextmanager
def style_context(style: str):
    """matplotlib's rc parameters of ``style`` for the figures created inside."""
    import matplotlib

    with matplotlib.rc_context(STYLES[check_style(style)]):
        yield


def colormap_lut(name: str = "viridis", n: int = 256) -> np.ndarray:
    """(n, 3) uint8 lookup table of matplotlib's colour map ``name`` (exact, not a copy)."""
    import matplotlib

    cmap = matplotlib.colormaps[name].resampled(n)
    return (cmap(np.arange(n))[:, :3] * 255).round().astype(np.uint8)


__all__ = [
    "CURVE_COLOURS",
    "DOUBLE_COLUMN_IN",
    "FORMATS",
    "FigureError",
    "MAX_WIDTH_IN",
    "MIN_WIDTH_IN",
    "PANELS",
    "QUANTITIES",
    "QUANTITY_LABELS",
    "RASTER_DPI",
    "SINGLE_COLUMN_IN",
    "STYLES",
    "check_format",
    "check_panels",
    "check_quantity",
    "check_style",
    "check_width",
    "colormap_lut",
    "style_context",
]
