"""Metric curves against the training step, with a marker wherever a setting changed mid-run.

Rows arrive with every snapshot (all rows since the previous one, so none is lost); they are
stored at once, as columns (``CurveData``: the run's ``History``); the curves are redrawn
``REDRAW_HZ`` times a second by their own timer, each from a reduction to about two points per
pixel column of what is in view, so a redraw costs the same at step 100 and at step 1,000,000
while a zoom into any range shows its full detail.

The plots' ranges follow the data in coarse steps (``FollowRanges``), not pyqtgraph's exact
auto-range: an axis whose range moved lays out its ticks and labels again, which was most of a
redraw's cost, and that cost is GUI-thread Python that holds the GIL while the worker trains.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer

from ..core.frames import ConfigChange, Event, Snapshot
from .curve_data import CurveData, CurveView
from .plotting import BACKGROUND, curve_item, set_title, small_plot

REDRAW_HZ = 5.0
MAX_MARKERS = 60  # markers on screen: older ones go (each is a line item in every plot)
MERGE_STEPS = 25  # edits of one setting this close after the first share its marker
CURVE_WIDTH = 1.0  # a 1 px pen strokes several times faster than a wider one
RANGE_PAD = 0.08  # of the data's span, each side, when a range is set
RANGE_SHRINK = 0.4  # a range is set again when the data span less than this share of it

# (title, [(row key, legend name, colour)]); unknown loss parts join the first plot.
PLOTS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "loss and its parts",
        [
            ("loss", "loss", "#f0f0f0"),
            ("e_pos", "E+ (data)", "#4fc3f7"),
            ("e_neg", "E- (chains)", "#ff8a65"),
            ("reg", "penalty", "#9ccc65"),
            ("kl_term", "KL term", "#ba68c8"),
            ("entropy", "entropy", "#ffd54f"),
        ],
    ),
    ("energy gap E(chains) - E(data)", [("gap", "gap", "#ffb74d")]),
    (
        "KL / held-out NLL (nats)",
        [
            ("kl", "KL(data||model)", "#e57373"),
            ("nll", "NLL", "#64b5f6"),
            # Coarse grid, at least once a second (worker/live_metrics.py); dots: full grid.
            ("kl_live", "KL live", "#ef9a9a"),
            ("nll_live", "NLL live", "#90caf9"),
        ],
    ),
    (
        "log Z",
        [("log_z_grid", "grid log Z", "#81c784"), ("log_z_learned", "learned log Z", "#f06292")],
    ),
    (
        "acceptance / MALA step",
        [("acceptance", "acceptance", "#4dd0e1"), ("sampler_step", "step", "#ffab91")],
    ),
    ("MMD² chains vs data", [("mmd", "MMD²", "#aed581")]),
    (
        "gradient norm",
        [("grad_norm", "parameters", "#90a4ae"), ("sampler_grad", "sampler", "#ce93d8")],
    ),
    ("steps / s", [("steps_per_s", "steps/s", "#fff176")]),
]
IGNORED = {"step", "lr", "reinit_noise", "reinit_data", "sampler_energy", "log_z_live"}
EXTRA_COLOURS = ["#a1887f", "#7986cb", "#4db6ac", "#dce775", "#f48fb1"]
MIN_WIDTH = 100  # pixels assumed for a plot not laid out yet
MAX_DOTS = 200  # evaluation points get a dot while at most this many are drawn


def nice_range(lo: float, hi: float, pad: float = RANGE_PAD) -> tuple[float, float]:
    """[lo, hi] widened by ``pad`` of its span each side, then rounded outwards to a multiple of
    a 1-2-5 step near a tenth of the span (a single value gets a span of 10% of itself)."""
    span = hi - lo
    if not span > 0:
        span = 0.1 * abs(hi) if hi else 1.0
        lo, hi = lo - span / 2, hi + span / 2
    lo, hi = lo - pad * span, hi + pad * span
    if not np.isfinite(hi - lo):
        return lo, hi
    raw = (hi - lo) / 10
    decade = 10.0 ** np.floor(np.log10(raw))
    step = next(m * decade for m in (1, 2, 5, 10) if m * decade >= raw)
    return float(np.floor(lo / step) * step), float(np.ceil(hi / step) * step)


def follow(
    current: tuple[float, float] | None, lo: float, hi: float, floor: float = -np.inf
) -> tuple[float, float]:
    """The range to show for data in [lo, hi]: ``current`` while it holds the data and the data
    fill at least ``RANGE_SHRINK`` of it, else a new ``nice_range`` (not padded below
    ``floor``)."""
    holds = current is not None and current[0] <= lo <= hi <= current[1]
    if holds and hi - lo >= RANGE_SHRINK * (current[1] - current[0]):
        return current
    a, b = nice_range(lo, hi)
    return max(a, min(floor, lo)), b


class FollowRanges:
    """Ranges for plots whose x axes are linked: they hold the data, and move only when a point
    falls outside or the data shrink well inside (``follow``), so most redraws leave every
    axis as it was. pyqtgraph's own auto-range fits the data exactly at each redraw: every new
    point moved every axis, and each moved axis laid out its ticks again.

    A mouse zoom or pan hands that axis to the user (x: all plots, they are linked; y: that
    plot); ``release`` (a double-click) hands them back.
    """

    def __init__(self, plots: list[pg.PlotItem]) -> None:
        self.plots = plots
        self.x: tuple[float, float] | None = None
        self.y: list[tuple[float, float] | None] = [None] * len(plots)
        self.user_x = False
        self.user_y = [False] * len(plots)
        for i, plot in enumerate(plots):
            vb = plot.getViewBox()
            vb.disableAutoRange()
            vb.sigRangeChangedManually.connect(lambda mask, i=i: self._taken(i, mask))

    def _taken(self, i: int, mask: list[bool]) -> None:
        self.user_x = self.user_x or bool(mask[0])
        self.user_y[i] = self.user_y[i] or bool(mask[1])

    def release(self) -> None:
        """Follow the data again on every axis (set anew at the next ``update``)."""
        self.x, self.y = None, [None] * len(self.plots)
        self.user_x, self.user_y = False, [False] * len(self.plots)

    def update(self, bounds: list[tuple[float, float, float, float] | None]) -> None:
        """``bounds[i]``: (x min, x max, y min, y max) of plot i's data, None when it has none."""
        have = [b for b in bounds if b is not None]
        if have and not self.user_x:
            # Steps start at 0 or later: no padding below 0.
            x = follow(self.x, min(b[0] for b in have), max(b[1] for b in have), floor=0.0)
            if x != self.x:
                self.x = x
                self.plots[0].setXRange(*x, padding=0)
        for i, b in enumerate(bounds):
            if b is None or self.user_y[i]:
                continue
            y = follow(self.y[i], b[2], b[3])
            if y != self.y[i]:
                self.y[i] = y
                self.plots[i].setYRange(*y, padding=0)


def merge_bounds(series: list[CurveView]) -> tuple[float, float, float, float] | None:
    """The bounds of several series together; None when all are empty."""
    have = [b for b in (s.bounds() for s in series) if b is not None]
    if not have:
        return None
    return (
        min(b[0] for b in have),
        max(b[1] for b in have),
        min(b[2] for b in have),
        max(b[3] for b in have),
    )


def set_dots(curve: pg.PlotDataItem, on: bool) -> None:
    """Dots on a curve's points or none (set only on a change: a new symbol restyles)."""
    symbol = "o" if on else None
    if curve.opts["symbol"] != symbol:
        curve.setSymbol(symbol)


class TimedRedraw:
    """Mixed into a panel of metric plots (a QObject with ``ranges`` and ``redraw``): rows are
    stored as frames arrive and drawn ``REDRAW_HZ`` times a second while the panel is visible,
    so a landscape frame never waits for the curves; a double-click anywhere hands every axis
    back to the data."""

    ranges: FollowRanges

    def redraw(self) -> None:
        raise NotImplementedError

    def start_redrawing(self, scene, first_plot: pg.PlotItem | None = None) -> None:
        """``first_plot``: the plot whose x axis the others follow; a zoom or pan there draws
        the new range's detail."""
        self._dirty = False
        if first_plot is not None:
            first_plot.getViewBox().sigXRangeChanged.connect(self._on_x_range)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(int(1000 / REDRAW_HZ))
        self._redraw_timer.timeout.connect(self._on_redraw_due)
        self._redraw_timer.start()
        scene.sigMouseClicked.connect(self._on_click)

    def _on_x_range(self, *_args) -> None:
        self._dirty = True

    def x_view(self) -> tuple[float, float] | None:
        """The x range to reduce: the user's zoom, or None (everything) while following."""
        if not self.ranges.user_x:
            return None
        x0, x1 = self.ranges.plots[0].getViewBox().viewRange()[0]
        return float(x0), float(x1)

    def _on_redraw_due(self) -> None:
        if self._dirty and self.isVisible():
            self.redraw()

    def _on_click(self, event) -> None:
        if event.double():
            self.ranges.release()
            self.redraw()


class Marker:
    """A vertical line through every plot at an event's step, labelled in the first plot."""

    def __init__(self, plots: list[pg.PlotItem], event: Event) -> None:
        self.event = event
        self.plots = plots
        self.lines = []
        for i, plot in enumerate(plots):
            line = pg.InfiniteLine(
                pos=event.step,
                angle=90,
                pen=pg.mkPen((255, 255, 255, 90), style=Qt.PenStyle.DashLine),
                label=event.label if i == 0 else None,
                labelOpts={"position": 0.92, "color": "#dddddd", "rotateAxis": (1, 0)}
                if i == 0
                else None,
            )
            plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)

    def absorbs(self, event: Event) -> bool:
        """Whether ``event`` edits this marker's setting again, soon after it."""
        mine = self.event
        return (
            isinstance(event, ConfigChange)
            and isinstance(mine, ConfigChange)
            and event.key == mine.key
            and event.step - mine.step <= MERGE_STEPS
        )

    def absorb(self, event: ConfigChange) -> None:
        """Show the first old value and the newest value at the first edit's step."""
        assert isinstance(self.event, ConfigChange)
        self.event = dataclasses.replace(self.event, new=event.new)
        self.lines[0].label.setFormat(self.event.label)

    def remove(self) -> None:
        for plot, line in zip(self.plots, self.lines):
            plot.removeItem(line)


class CurvesPanel(TimedRedraw, pg.GraphicsLayoutWidget):
    """A grid of small plots sharing the step axis."""

    def __init__(self, parent=None, columns: int = 4) -> None:
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.data = CurveData(IGNORED)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plots: list[pg.PlotItem] = []
        self._key_plot: dict[str, pg.PlotItem] = {}
        self._style: dict[str, tuple[str, str]] = {}
        self.markers: list[Marker] = []
        self._titles: list[tuple[str, list[tuple[str, str, str]]]] = []
        self._notes: dict[int, pg.TextItem] = {}
        for i, (title, keys) in enumerate(PLOTS):
            if i and i % columns == 0:
                self.nextRow()
            plot, self._notes[i] = small_plot(self.ci, title, 42, "no data in this run")
            if self.plots:
                plot.setXLink(self.plots[0])
            for key, name, colour in keys:
                self._key_plot[key] = plot
                self._style[key] = (name, colour)
            self.plots.append(plot)
            self._titles.append((title, list(keys)))
            self._set_title(i)
        self.ranges = FollowRanges(self.plots)
        self.start_redrawing(self.scene(), self.plots[0])

    @property
    def series(self) -> dict[str, CurveView]:
        """The plotted metrics logged so far, by row key."""
        return {k: self.data.view(k) for k in self.data.plotted()}

    # ------------------------------------------------------------------ data
    def clear_run(self) -> None:
        """A new run: forget every point and marker."""
        for key in list(self.curves):
            curve = self.curves.pop(key)
            self._key_plot[key].removeItem(curve)
        self.data.clear()
        for i, note in self._notes.items():
            note.setVisible(True)
            self._set_title(i)
        for marker in self.markers:
            marker.remove()
        self.markers.clear()
        self.ranges.release()
        self._dirty = True

    def add_snapshot(self, snap: Snapshot) -> None:
        """Store the frame's rows and markers; the curves redraw on their own timer, so a
        landscape frame never waits for eight plots to repaint."""
        if self.data.add_snapshot(snap):
            self._dirty = True
        for event in snap.events:
            self.add_event(event)

    def add_row(self, row: dict[str, float]) -> None:
        if self.data.add_row(row):
            self._dirty = True

    def add_event(self, event: Event) -> None:
        """A vertical marker; consecutive edits of one setting merge into one marker."""
        if self.markers and self.markers[-1].absorbs(event):
            assert isinstance(event, ConfigChange)
            self.markers[-1].absorb(event)
            return
        if len(self.markers) >= MAX_MARKERS:
            self.markers.pop(0).remove()
        self.markers.append(Marker(self.plots, event))

    def marker_labels(self) -> list[str]:
        return [m.event.label for m in self.markers]

    # ------------------------------------------------------------------ drawing
    def _set_title(self, i: int) -> None:
        """Title with each curve's name in its colour (a legend would cover the curves)."""
        title, keys = self._titles[i]
        shown = [(n, c) for k, n, c in keys if k in self.series] if self.series else []
        names = " ".join(f"<span style='color:{c}'>{n}</span>" for n, c in shown)
        label = title
        if names and (len(shown) > 1 or shown[0][0] != title):
            label += f"&nbsp;&nbsp;{names}"
        set_title(self.plots[i], label)

    def redraw(self) -> None:
        series = self.series
        x_view = self.x_view()
        for key, s in series.items():
            curve = self.curves.get(key)
            if curve is None:
                curve = self._make_curve(key)
                i = self.plots.index(self._key_plot[key])
                keys = self._titles[i][1]
                if key not in {k for k, _, _ in keys}:
                    keys.append((key, *self._style[key]))
                self._set_title(i)
                self._notes[i].setVisible(False)
            plot = self._key_plot[key]
            width = max(int(plot.getViewBox().width()), MIN_WIDTH)
            xs, ys = s.display(width, x_view)
            if key in self.data.history.eval_keys:  # dots only where they can be told apart
                set_dots(curve, len(xs) <= MAX_DOTS)
            curve.setData(xs, ys)
        self.ranges.update(
            [
                merge_bounds([s for k, s in series.items() if self._key_plot[k] is plot])
                for plot in self.plots
            ]
        )
        self._dirty = False

    def _make_curve(self, key: str) -> pg.PlotDataItem:
        if key not in self._key_plot:  # an objective's own loss part
            colour = EXTRA_COLOURS[len(self.curves) % len(EXTRA_COLOURS)]
            self._key_plot[key] = self.plots[0]
            self._style[key] = (key, colour)
        name, colour = self._style[key]
        sparse = key in self.data.history.eval_keys
        curve = curve_item(colour, CURVE_WIDTH, sparse, name)
        self._key_plot[key].addItem(curve)
        self.curves[key] = curve
        return curve


__all__ = [
    "CurvesPanel",
    "FollowRanges",
    "Marker",
    "PLOTS",
    "TimedRedraw",
    "follow",
    "merge_bounds",
]
