"""The landscape view: heatmap of the energy or density, contours, data, chains, trails, buffer,
score arrows, and a "Draw" mode that paints points with the mouse.

Every item is created once; a frame only calls ``setImage``/``setData``. Large point sets are
drawn as a 2D histogram image (a ScatterPlotItem takes about 180 ms for 100k points), small ones
as tiny segments of one ``PlotCurveItem(connect="pairs")`` (``plotting.dots``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem

from ..core.config import ViewConfig
from ..core.frames import Snapshot, StaticLayers
from .plotting import BACKGROUND, cache_axes, cosmetic_pen, dots
from .trails import trail_paths

POINTS_AS_DOTS_MAX = 4000  # above this, chains are drawn as a density image
BUFFER_SHOWN = 3000
HIST_RES = 160
SCORE_ARROWS = 21
CONTOUR_LEVELS = 6
CONTOUR_MAX_RES = 100  # contour on a coarser grid: same lines, fewer cells
ROBUST_SMOOTHING = 0.25  # fraction of the way to the new percentile range per heatmap update
# Robust levels stay put while both bounds are within this fraction of the range of their
# targets: each move lays out the colour bar's ticks again (about 2 ms of GUI-thread Python per
# frame), and a shift under 1% of the colour scale is not visible.
LEVELS_TOLERANCE = 0.01

CHAIN_COLOUR = (255, 80, 60)
DATA_COLOUR = (215, 215, 215)  # opaque: Qt draws opaque dots on its fast drawLines path
BUFFER_COLOUR = (80, 200, 255)
TRAIL_COLOUR = (255, 170, 40)
DRAWN_COLOUR = (255, 255, 255)


# --------------------------------------------------------------------------- pure helpers
def heatmap_values(energy: np.ndarray, log_z: float | None, mode: str, box: float) -> np.ndarray:
    """What the heatmap shows: E, the grid-normalised density exp(-E) / Z, or log of it."""
    if mode == "energy":
        return energy
    if log_z is None:
        cell = (2 * box / energy.shape[0]) ** 2
        m = -energy.max()
        log_z = float(np.log(np.exp(-energy - m).sum() * cell) + m)
    log_p = -energy.astype(np.float64) - log_z
    return log_p if mode == "log-density" else np.exp(log_p)


def robust_range(values: np.ndarray, mode: str) -> tuple[float, float]:
    """Percentile range that ignores a few extreme cells (a spike must not wash out the map)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 1.0
    if mode == "density":
        lo, hi = 0.0, float(np.percentile(v, 99.5))
    else:
        lo, hi = (float(x) for x in np.percentile(v, (1.0, 99.0)))
    if not hi > lo:
        hi = lo + 1e-6
    return lo, hi


def smoothed_levels(
    current: tuple[float, float], target: tuple[float, float]
) -> tuple[float, float]:
    """``ROBUST_SMOOTHING`` of the way from ``current`` to ``target``; ``current`` itself while
    both bounds are within ``LEVELS_TOLERANCE`` of the range of their targets."""
    tol = LEVELS_TOLERANCE * (current[1] - current[0])
    if abs(target[0] - current[0]) <= tol and abs(target[1] - current[1]) <= tol:
        return current
    a = ROBUST_SMOOTHING
    return current[0] + a * (target[0] - current[0]), current[1] + a * (target[1] - current[1])


def cell_centres(box: float, res: int) -> np.ndarray:
    """Centres of ``res`` cells across [-box, box] (the grid convention of core.metrics)."""
    h = 2 * box / res
    return np.linspace(-box + h / 2, box - h / 2, res)


def contour_segments(
    z: np.ndarray, levels: np.ndarray, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Marching squares, vectorised: the iso-lines of ``z`` (rows = y, both axes sampled at
    ``centres``) at ``levels``, as segment end points (x, y) for ``connect="pairs"``."""
    xs_all, ys_all = [], []
    a, b = z[:-1, :-1], z[:-1, 1:]  # bottom-left, bottom-right
    c, d = z[1:, 1:], z[1:, :-1]  # top-right, top-left
    x0, y0 = np.meshgrid(centres[:-1], centres[:-1])
    x1, y1 = np.meshgrid(centres[1:], centres[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        for lev in np.asarray(levels, dtype=np.float64):
            # Crossing point on each of the four cell edges (NaN where the edge is not crossed).
            edges = []
            for p, q, px, py, qx, qy in (
                (a, b, x0, y0, x1, y0),
                (b, c, x1, y0, x1, y1),
                (c, d, x1, y1, x0, y1),
                (d, a, x0, y1, x0, y0),
            ):
                crosses = (p < lev) != (q < lev)
                t = np.where(crosses, (lev - p) / (q - p), np.nan)
                edges.append((px + t * (qx - px), py + t * (qy - py)))
            ex = np.stack([e[0] for e in edges], -1)  # (ny, nx, 4)
            ey = np.stack([e[1] for e in edges], -1)
            hit = np.isfinite(ex)
            count = hit.sum(-1)
            two = count == 2
            if two.any():
                # The two crossed edges of each cell, in edge order.
                order = np.argsort(~hit[two], axis=-1, kind="stable")[:, :2]
                xs_all.append(np.take_along_axis(ex[two], order, -1).reshape(-1))
                ys_all.append(np.take_along_axis(ey[two], order, -1).reshape(-1))
            four = count == 4
            if four.any():  # saddle: pair edges (0,1) and (2,3)
                xs_all.append(ex[four].reshape(-1))
                ys_all.append(ey[four].reshape(-1))
    if not xs_all:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs_all), np.concatenate(ys_all)


def histogram_image(points: np.ndarray, box: float, res: int = HIST_RES) -> np.ndarray:
    """Counts of points per cell, rows = y, as float32 (bincount: ~1 ms at 100k points)."""
    ij = np.floor((points + box) * (res / (2 * box))).astype(np.int64)
    ok = (ij >= 0).all(1) & (ij < res).all(1)
    ij = ij[ok]
    flat = np.bincount(ij[:, 1] * res + ij[:, 0], minlength=res * res)
    return flat.reshape(res, res).astype(np.float32)


def score_segments(energy: np.ndarray, box: float, n: int = SCORE_ARROWS):
    """Arrows of the score -grad E on an n x n lattice (shaft + two head strokes each)."""
    res = energy.shape[0]
    h = 2 * box / res
    gy, gx = np.gradient(energy.astype(np.float64), h)
    idx = np.linspace(0, res - 1, n).round().astype(int)
    sx, sy = -gx[np.ix_(idx, idx)], -gy[np.ix_(idx, idx)]
    cc = -box + h / 2 + idx * h
    px, py = np.meshgrid(cc, cc)
    mag = np.hypot(sx, sy)
    scale = np.percentile(mag, 90) if np.isfinite(mag).all() and mag.size else 1.0
    length = 0.8 * (2 * box / n) * np.minimum(mag / max(scale, 1e-12), 1.0)
    ux, uy = sx / np.maximum(mag, 1e-12), sy / np.maximum(mag, 1e-12)
    tx, ty = px + ux * length, py + uy * length
    head = 0.35 * length
    # Head strokes at +-150 degrees from the arrow direction.
    c, s = np.cos(np.deg2rad(150)), np.sin(np.deg2rad(150))
    h1x, h1y = tx + head * (c * ux - s * uy), ty + head * (s * ux + c * uy)
    h2x, h2y = tx + head * (c * ux + s * uy), ty + head * (-s * ux + c * uy)
    xs = np.stack([px, tx, tx, h1x, tx, h2x], -1).reshape(-1)
    ys = np.stack([py, ty, ty, h1y, ty, h2y], -1).reshape(-1)
    return xs, ys


def _overlay_lut(rgb: tuple[int, int, int]) -> np.ndarray:
    """Transparent at zero, then the colour with rising opacity (a density of points)."""
    lut = np.zeros((256, 4), np.uint8)
    lut[:, :3] = rgb
    lut[1:, 3] = np.linspace(90, 255, 255).astype(np.uint8)
    return lut


# --------------------------------------------------------------------------- draw mode


@dataclass(frozen=True)
class ShownLayers:
    """The data behind a landscape view's picture: box, energy grid (rows = y), the
    dataset's exact log-density and points, and the last frame (chains, buffer, step)."""

    box: float
    energy: np.ndarray | None
    true_log_p: np.ndarray | None
    data: np.ndarray | None
    last: Snapshot | None


class DrawViewBox(pg.ViewBox):
    """A ViewBox that, in draw mode, turns left-button drags into painted points."""

    stroke_painted = Signal(float, float)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drawing = False

    def mouseDragEvent(self, ev, axis=None):  # Qt override
        if self.drawing and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.stroke_painted.emit(p.x(), p.y())
        else:
            super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # Qt override
        if self.drawing and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.stroke_painted.emit(p.x(), p.y())
        else:
            super().mouseClickEvent(ev)


# --------------------------------------------------------------------------- the view
class LandscapeView(pg.GraphicsLayoutWidget):
    """Central plot. ``show_snapshot`` draws a frame; ``painted`` fires after each repaint
    (the main window acknowledges frames on it, so the worker never outruns the screen)."""

    painted = Signal()
    points_drawn = Signal(int)  # number of painted points so far

    def __init__(self, view: ViewConfig | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.view = view or ViewConfig()
        self.box = 4.5
        self._levels: tuple[float, float] | None = None
        self._levels_mode: tuple[str, str] | None = None
        self._energy: np.ndarray | None = None
        self._log_z: float | None = None
        self._true_log_p: np.ndarray | None = None
        self._data_points: np.ndarray | None = None
        self._last: Snapshot | None = None
        self._fitted: dict[int, tuple] = {}
        self.drawn: list[tuple[float, float]] = []
        self._rng = np.random.default_rng(0)
        self.brush_radius = 0.12

        self.viewbox = DrawViewBox(lockAspect=True)
        self.plot = self.addPlot(viewBox=self.viewbox)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(False, False)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen("#b0b0b0")
            self.plot.getAxis(axis).setPen("#606060")

        self.image = pg.ImageItem(axisOrder="row-major")
        # The heatmap changes a few times a second, the chains every frame: cache the scaled
        # heatmap so a chains-only frame does not rescale it.
        self.image.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=pg.colormap.get(self.view.colormap),
            interactive=False,
            width=14,
            colorMapMenu=False,
        )
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        cache_axes(self.plot)
        self.colorbar.axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

        self.contours = pg.PlotCurveItem(connect="pairs", pen=cosmetic_pen((255, 255, 255, 90)))
        self.true_contours = pg.PlotCurveItem(
            connect="pairs", pen=cosmetic_pen((255, 120, 200, 220), 1.0, Qt.PenStyle.DashLine)
        )
        self.score = pg.PlotCurveItem(connect="pairs", pen=cosmetic_pen((230, 230, 230, 170)))
        self.data = pg.PlotCurveItem(
            connect="pairs", pen=cosmetic_pen(DATA_COLOUR, 2.0, cap=Qt.PenCapStyle.RoundCap)
        )
        self.buffer = pg.PlotCurveItem(
            connect="pairs", pen=cosmetic_pen(BUFFER_COLOUR, 2.0, cap=Qt.PenCapStyle.RoundCap)
        )
        self.chain_dots = pg.PlotCurveItem(
            connect="pairs", pen=cosmetic_pen(CHAIN_COLOUR, 3.0, cap=Qt.PenCapStyle.RoundCap)
        )
        # The data points and the true density's contours change only on reset: drawn from a
        # cached pixmap, not stroked again (2000 round-capped dots) at every frame.
        for item in (self.data, self.true_contours):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.chain_image = pg.ImageItem(axisOrder="row-major")
        self.chain_image.setLookupTable(_overlay_lut(CHAIN_COLOUR))
        self.trails = pg.PlotCurveItem(pen=cosmetic_pen(TRAIL_COLOUR, 1.5))
        # Jumps and restarts, drawn apart from the trails (``view.trail_jumps``).
        self.trail_hops = pg.PlotCurveItem(
            connect="pairs", pen=cosmetic_pen((*TRAIL_COLOUR, 90), 1.0, Qt.PenStyle.DashLine)
        )
        self.trail_landings = pg.ScatterPlotItem(
            size=7, pen=pg.mkPen(TRAIL_COLOUR, width=1.2), brush=None, pxMode=True
        )
        self.drawn_item = pg.PlotCurveItem(
            connect="pairs", pen=cosmetic_pen(DRAWN_COLOUR, 3.0, cap=Qt.PenCapStyle.RoundCap)
        )
        for z, item in enumerate(
            (
                self.contours,
                self.true_contours,
                self.score,
                self.data,
                self.buffer,
                self.chain_image,
                self.chain_dots,
                self.trails,
                self.trail_hops,
                self.trail_landings,
                self.drawn_item,
            )
        ):
            item.setZValue(10 + z)
            self.plot.addItem(item)
        for item in (self.chain_dots, self.data, self.buffer, self.drawn_item):
            item.setSkipFiniteCheck(True)  # dots are finite; trails use NaN as separators
        self.viewbox.stroke_painted.connect(self._on_stroke_painted)
        self._set_box(self.box)
        self.apply_view(self.view)

    # ------------------------------------------------------------------ frame-ack hook
    def paintEvent(self, ev):  # Qt override
        super().paintEvent(ev)
        self.painted.emit()

    # ------------------------------------------------------------------ settings
    def apply_view(self, view: ViewConfig) -> None:
        """Apply the [view] settings (toggles, colours, level mode) and redraw from cache."""
        old = self.view
        self.view = view
        if view.colormap != old.colormap:
            self.colorbar.setColorMap(pg.colormap.get(view.colormap))
        if (view.heatmap, view.levels) != (old.heatmap, old.levels):
            self._levels = None  # a new quantity or mode: take the new range at once
        self.contours.setVisible(view.contours)
        self.true_contours.setVisible(view.true_contours)
        self.score.setVisible(view.show_score)
        self.data.setVisible(view.show_data)
        self.buffer.setVisible(view.show_buffer)
        self.chain_dots.setVisible(view.show_chains)
        self.chain_image.setVisible(view.show_chains)
        self.trails.setVisible(view.show_trails)
        self.trail_hops.setVisible(view.show_trails and view.trail_jumps == "dashed")
        self.trail_landings.setVisible(view.show_trails and view.trail_jumps == "marker")
        if self._energy is not None:
            self._draw_heatmap()
        self._draw_true_contours()
        if self._last is not None:
            self._draw_points(self._last)

    def _set_box(self, box: float) -> None:
        self.box = box
        self._fitted.clear()
        self.plot.setRange(xRange=(-box, box), yRange=(-box, box), padding=0.02)

    def _fit(self, item: pg.ImageItem) -> None:
        """Map the image onto the box. ImageItem.setRect scales by the current image size,
        so it is redone whenever the shape changes (not every frame)."""
        key = (item.image.shape, self.box)
        if self._fitted.get(id(item)) != key:
            b = self.box
            item.setRect(QRectF(-b, -b, 2 * b, 2 * b))
            self._fitted[id(item)] = key

    # ------------------------------------------------------------------ frames
    def show_snapshot(self, snap: Snapshot) -> None:
        """Draw one frame. Heavy work (heatmap levels, contours) only when a grid arrived."""
        if snap.box != self.box:
            self._set_box(snap.box)
        if snap.static is not None:
            self._set_static(snap.static)
        if snap.energy is not None:
            self._energy, self._log_z = snap.energy, snap.log_z
            self._draw_heatmap()
        self._last = snap
        self._draw_points(snap)

    def shown_layers(self) -> ShownLayers:
        """What the view shows now (the last grid and frame), for a publication figure."""
        return ShownLayers(self.box, self._energy, self._true_log_p, self._data_points, self._last)

    def _set_static(self, layers: StaticLayers) -> None:
        self.data.setData(*dots(layers.data))
        self._data_points = layers.data
        self._true_log_p = layers.true_log_p
        self._draw_true_contours()

    def _draw_heatmap(self) -> None:
        assert self._energy is not None
        view = self.view
        values = heatmap_values(self._energy, self._log_z, view.heatmap, self.box)
        key = (view.heatmap, view.levels)
        if view.levels == "auto":
            finite = values[np.isfinite(values)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
            self._levels = (lo, hi if hi > lo else lo + 1e-6)
        elif self._levels is None or self._levels_mode != key:
            self._levels = robust_range(values, view.heatmap)
        elif view.levels == "robust":
            lo, hi = robust_range(values, view.heatmap)
            self._levels = smoothed_levels(self._levels, (lo, hi))
        self._levels_mode = key
        self.image.setImage(values.astype(np.float32), autoLevels=False, levels=self._levels)
        self._fit(self.image)
        if tuple(self.colorbar.levels()) != self._levels:  # even unchanged levels re-lay its ticks
            self.colorbar.setLevels(self._levels)
        if view.contours:
            lo, hi = self._levels
            levels = np.linspace(lo, hi, CONTOUR_LEVELS + 2)[1:-1]
            step = max(1, int(np.ceil(values.shape[0] / CONTOUR_MAX_RES)))
            centres = cell_centres(self.box, values.shape[0])[::step]
            self.contours.setData(*contour_segments(values[::step, ::step], levels, centres))
        if view.show_score:
            self.score.setData(*score_segments(self._energy, self.box))

    def _draw_true_contours(self) -> None:
        if self._true_log_p is None or not self.view.true_contours:
            self.true_contours.setData([], [])
            return
        lp = self._true_log_p
        # Highest-density contours: levels at fractions of the peak density.
        peak = float(np.nanmax(lp))
        levels = peak + np.log(np.array([0.05, 0.25, 0.6]))
        centres = cell_centres(self.box, lp.shape[0])
        self.true_contours.setData(*contour_segments(lp, levels, centres))

    def _draw_points(self, snap: Snapshot) -> None:
        view = self.view
        chains = snap.chains
        if view.show_chains and chains is not None and len(chains):
            if len(chains) <= POINTS_AS_DOTS_MAX:
                self.chain_image.clear()
                self.chain_dots.setData(*dots(chains))
            else:
                self.chain_dots.setData([], [])
                self._draw_chain_density(chains)
        else:
            self.chain_dots.setData([], [])
            self.chain_image.clear()
        trails = snap.trails
        if view.show_trails and trails is not None and trails.shape[1] > 1:
            pts, connect, hops = trail_paths(trails, snap.trail_jumps)
            self.trails.setData(pts[:, 0], pts[:, 1], connect=connect)
            self.trail_hops.setData(hops[:, 0], hops[:, 1])
            self.trail_landings.setData(hops[1::2, 0], hops[1::2, 1])
        else:
            self.trails.setData([], [])
            self.trail_hops.setData([], [])
            self.trail_landings.setData([], [])
        buf = snap.buffer
        if view.show_buffer and buf is not None and len(buf):
            step = max(1, len(buf) // BUFFER_SHOWN)
            self.buffer.setData(*dots(buf[::step]))
        else:
            self.buffer.setData([], [])

    def _draw_chain_density(self, chains: np.ndarray) -> None:
        counts = histogram_image(chains, self.box)
        top = float(np.percentile(counts[counts > 0], 99)) if (counts > 0).any() else 1.0
        self.chain_image.setImage(counts, autoLevels=False, levels=(0.0, max(top, 1.0)))
        self._fit(self.chain_image)

    # ------------------------------------------------------------------ draw mode
    def set_drawing(self, on: bool) -> None:
        self.viewbox.drawing = on
        self.viewbox.setMouseEnabled(x=not on, y=not on)
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def clear_drawing(self) -> None:
        self.drawn.clear()
        self.drawn_item.setData([], [])
        self.points_drawn.emit(0)

    def drawn_points(self) -> np.ndarray:
        return np.asarray(self.drawn, dtype=np.float64).reshape(-1, 2)

    def add_stroke(self, x: float, y: float, n: int = 6) -> None:
        """Spray ``n`` points around (x, y), like an airbrush: a drag paints a density."""
        pts = np.array([x, y]) + self._rng.normal(0, self.brush_radius, (n, 2))
        pts = np.clip(pts, -self.box, self.box)
        self.drawn.extend(map(tuple, pts))
        self.drawn_item.setData(*dots(self.drawn_points()))
        self.points_drawn.emit(len(self.drawn))

    def _on_stroke_painted(self, x: float, y: float) -> None:
        self.add_stroke(x, y)


__all__ = ["LandscapeView", "DrawViewBox", "contour_segments", "heatmap_values", "robust_range"]
