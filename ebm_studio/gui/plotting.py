"""Plot helpers every view uses: the dark background, cached axes, cosmetic pens, dots.

They exist for speed as much as for looks: everything the GUI thread does in Python holds the
GIL the worker needs, so the views draw points as segments of one curve item and axes from a
cached pixmap (README, Performance).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsItem

BACKGROUND = "#15161a"
TITLE_COLOUR = "#bbbbbb"
NOTE_COLOUR = "#777777"
DOT_LENGTH = 1e-3  # data units: far below a pixel


def dots(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point as a tiny segment for a ``PlotCurveItem(connect="pairs")``; a wide pen with
    round caps draws it as a dot (Qt draws nothing for an exactly zero-length line)."""
    x = np.repeat(points[:, 0].astype(np.float64), 2)
    y = np.repeat(points[:, 1].astype(np.float64), 2)
    x[1::2] += DOT_LENGTH
    return x, y


def cosmetic_pen(
    colour, width: float = 1.0, style=Qt.PenStyle.SolidLine, cap=Qt.PenCapStyle.SquareCap
) -> QPen:
    """A pen whose width is in pixels whatever the zoom."""
    pen = pg.mkPen(colour, width=width, style=style)
    pen.setCapStyle(cap)
    pen.setCosmetic(True)
    return pen


def cache_axes(plot: pg.PlotItem) -> None:
    """Draw ``plot``'s axes (ticks, labels, grid lines) from a pixmap kept by Qt until the axis
    changes. An axis re-plays its recorded text and lines at every repaint of the plot beside
    it, and its grid lines put the whole plot in its bounds: replaying them was most of a
    curves repaint. An axis calls ``update()`` when its range or size changes, which renders
    the pixmap anew."""
    for axis in plot.axes.values():
        axis["item"].setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def small_plot(
    layout: pg.GraphicsLayout, title: str, axis_width: int, empty: str
) -> tuple[pg.PlotItem, pg.TextItem]:
    """A plot in a grid of metric plots: no buttons or menu, a faint grid, cached axes, a small
    grey title; and a note saying ``empty`` kept in its centre (hide it once data come)."""
    plot = layout.addPlot()
    plot.hideButtons()
    plot.setMenuEnabled(False)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.getAxis("left").setWidth(axis_width)
    cache_axes(plot)
    set_title(plot, title)
    note = pg.TextItem(empty, color=NOTE_COLOUR, anchor=(0.5, 0.5))
    plot.addItem(note, ignoreBounds=True)
    # Keep the note centred whatever the (linked) range does.
    plot.getViewBox().sigRangeChanged.connect(
        lambda _vb, rng, *_: note.setPos((rng[0][0] + rng[0][1]) / 2, (rng[1][0] + rng[1][1]) / 2)
    )
    return plot, note


def set_title(plot: pg.PlotItem, html: str) -> None:
    """A small title; ``html`` may colour parts of it (a legend would cover the curves)."""
    plot.setTitle(f"<span style='font-size:8pt; color:{TITLE_COLOUR}'>{html}</span>")


def curve_item(colour: str, width: float, sparse: bool, name: str = "") -> pg.PlotDataItem:
    """A metric curve: peak downsampling, clipped to the view, dots where points are sparse
    (logged every ``train.eval_every`` steps)."""
    curve = pg.PlotDataItem(
        pen=pg.mkPen(colour, width=width),
        name=name,
        symbol="o" if sparse else None,
        symbolSize=4,
        symbolBrush=colour,
        symbolPen=None,
    )
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve


__all__ = [
    "BACKGROUND",
    "cache_axes",
    "cosmetic_pen",
    "curve_item",
    "dots",
    "set_title",
    "small_plot",
]
