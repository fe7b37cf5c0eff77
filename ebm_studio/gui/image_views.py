"""Image mode's central view, in place of the landscape when the data are images (digits):
a grid of the current chains and buffer samples, a strip of a few chains over time, the energy
on the data's principal plane with data, chains and buffer projected on it, and the class
histogram of the chains. The plane and the histogram come computed from the worker
(``Snapshot.image``); this module only draws.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal

from ..core.frames import Snapshot

GRID_MAX = 64  # chain tiles shown (8 x 8)
BUFFER_MAX = 32  # buffer tiles shown below the chains
STRIP_CHAINS = 6  # rows of the chain strip
STRIP_LENGTH = 12  # columns: the last frames of each strip chain
PAD = 1  # pixels between tiles, drawn at -1 (black)


def mosaic(images: np.ndarray, cols: int | None = None) -> np.ndarray:
    """Tile ``images`` (n, h, w) or (n, 1, h, w), clipped to [-1, 1], into one (H, W) array,
    row-major, with a ``PAD``-pixel border of -1 between tiles; the first at the top left."""
    # pixels live in [-1, 1]; chains may stray outside, and the grey map saturates there
    x = np.clip(np.asarray(images, dtype=np.float32), -1.0, 1.0)
    x = x.reshape(len(x), x.shape[-2], x.shape[-1])
    n, h, w = x.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    # One array operation, not a loop over tiles: this runs in the GUI thread every frame.
    tiles = np.full((rows * cols, h + PAD, w + PAD), -1.0, np.float32)
    tiles[:n, :h, :w] = x
    grid = tiles.reshape(rows, cols, h + PAD, w + PAD).transpose(0, 2, 1, 3)
    out = np.full((rows * (h + PAD) + PAD, cols * (w + PAD) + PAD), -1.0, np.float32)
    out[PAD:, PAD:] = grid.reshape(rows * (h + PAD), cols * (w + PAD))
    return out


def _image_item() -> pg.ImageItem:
    item = pg.ImageItem(axisOrder="row-major")
    item.setLookupTable(pg.colormap.get("CET-L1").getLookupTable(nPts=256))  # grey
    item.setLevels((-1.0, 1.0))
    return item


def _image_plot(layout: pg.GraphicsLayoutWidget, title: str, item: pg.ImageItem) -> pg.PlotItem:
    p = layout.addPlot(title=title)
    p.addItem(item)
    p.hideAxis("left")
    p.hideAxis("bottom")
    p.setAspectLocked(True)
    p.invertY(True)  # row 0 at the top, as images read
    p.setMouseEnabled(False, False)
    return p


class ImageModeView(pg.GraphicsLayoutWidget):
    """The four image-mode views. ``show_snapshot`` draws a frame; ``painted`` fires after
    each repaint (frame acknowledgement)."""

    painted = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("#15161a")
        self.grid_image = _image_item()
        self.grid_plot = _image_plot(self, "chains (top) and buffer (below)", self.grid_image)
        self.strip_image = _image_item()
        self.strip_plot = _image_plot(self, "chain strip: 6 chains over time ->", self.strip_image)
        self.nextRow()
        self.plane_plot = self.addPlot(title="energy on the data's principal plane (pc1, pc2)")
        self.plane_image = pg.ImageItem(axisOrder="row-major")
        self.plane_image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.plane_plot.addItem(self.plane_image)
        self.plane_data = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(255, 255, 255, 90))
        self.plane_buffer = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(80, 160, 255))
        self.plane_chains = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(255, 90, 60))
        for z, item in enumerate((self.plane_data, self.plane_buffer, self.plane_chains)):
            item.setZValue(10 + z)
            self.plane_plot.addItem(item)
        self.plane_plot.setLabel("bottom", "pc1")
        self.plane_plot.setLabel("left", "pc2")
        self.hist_plot = self.addPlot(title="class histogram of the chains (digit classifier)")
        self.hist_bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.8)
        self.hist_plot.addItem(self.hist_bars)
        self.hist_plot.setLabel("bottom", "class")
        self.hist_plot.setLabel("left", "chains")
        self.strip: deque[np.ndarray] = deque(maxlen=STRIP_LENGTH)
        self.grid_shape: tuple[int, int] | None = None  # (tiles, tile pixels) last drawn
        self.plane_shape: tuple[int, int] | None = None
        self.class_histogram: tuple[int, ...] | None = None

    def paintEvent(self, ev):  # Qt override
        super().paintEvent(ev)
        self.painted.emit()

    def clear_run(self) -> None:
        """A new run: the strip starts over."""
        self.strip.clear()

    def show_snapshot(self, snap: Snapshot) -> None:
        if snap.chains is not None and snap.chains.ndim >= 3 and len(snap.chains):
            chains = snap.chains[:GRID_MAX]
            tiles = [chains]
            if snap.buffer is not None and snap.buffer.ndim >= 3 and len(snap.buffer):
                tiles.append(snap.buffer[:BUFFER_MAX])
            cols = max(1, math.ceil(math.sqrt(len(chains))))
            parts = [mosaic(t, cols) for t in tiles]
            self.grid_image.setImage(np.vstack(parts), autoLevels=False)
            self.grid_shape = (len(chains), int(np.prod(chains.shape[-2:])))
            first = chains[:STRIP_CHAINS].reshape(-1, *chains.shape[-2:])
            if self.strip and self.strip[-1].shape != first.shape:
                self.strip.clear()  # the chain count changed: a new strip
            self.strip.append(first)
            # (time, chain, h, w) -> tiles ordered chain-major so each row is one chain
            seq = np.stack(list(self.strip), 1).reshape(-1, *first.shape[-2:])
            self.strip_image.setImage(mosaic(seq, len(self.strip)), autoLevels=False)
        extras = snap.image
        if extras is None:
            return
        e = extras.plane_energy
        self.plane_shape = e.shape
        finite = e[np.isfinite(e)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.plane_image.setImage(e, levels=(lo, hi if hi > lo else lo + 1.0))
        ex, ey = extras.extent
        self.plane_image.setRect(-ex, -ey, 2 * ex, 2 * ey)
        self.plane_data.setData(pos=extras.data_xy)
        none = np.empty((0, 2))
        self.plane_chains.setData(pos=none if extras.chains_xy is None else extras.chains_xy)
        self.plane_buffer.setData(pos=none if extras.buffer_xy is None else extras.buffer_xy)
        if extras.class_histogram is not None:
            h = np.asarray(extras.class_histogram, dtype=float)
            self.class_histogram = extras.class_histogram
            self.hist_bars.setOpts(x=np.arange(len(h)), height=h, width=0.8)


__all__ = ["ImageModeView", "mosaic"]
