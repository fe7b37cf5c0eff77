"""Compare mode's curves: every arm's metric overlaid, one small plot per metric, a legend above.

Rows are stored as frames arrive (each arm's ``History``, as columns) and drawn by the panel's
own timer from a reduction to the plots' width, as in ``CurvesPanel``.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..core.frames import Frame
from .curve_data import CurveData, CurveView
from .curves import (
    CURVE_WIDTH,
    MAX_DOTS,
    MIN_WIDTH,
    FollowRanges,
    TimedRedraw,
    merge_bounds,
    set_dots,
)
from .plotting import BACKGROUND, curve_item, small_plot

ARM_COLOURS = ("#4fc3f7", "#ffb74d")  # A light blue, B orange: distinct on the dark plots
# (row key, plot title): the metrics that say which arm learned the density better.
COMPARE_PLOTS: list[tuple[str, str]] = [
    ("kl", "KL(data ‖ model) (nats)"),
    ("nll", "held-out NLL (nats)"),
    ("mmd", "MMD² chains vs data"),
    ("loss", "loss (each arm's own objective)"),
    ("log_z_error", "|learned − grid log Z|"),
    ("grad_norm", "parameter gradient norm"),
]
SPARSE = {"kl", "nll", "mmd", "log_z_error"}  # logged every train.eval_every steps


class CompareCurves(TimedRedraw, QWidget):
    """The arms' metric curves overlaid, one small plot per metric, with a legend above."""

    def __init__(
        self, arms: tuple[str, ...], parent: QWidget | None = None, columns: int = 3
    ) -> None:
        super().__init__(parent)
        self.arms = arms
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setContentsMargins(6, 2, 6, 2)
        self.legend.setStyleSheet(f"background: {BACKGROUND};")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.legend)
        layout.addWidget(self.graphics, 1)
        self.data = {arm: CurveData() for arm in arms}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self._notes: dict[str, pg.TextItem] = {}
        for i, (key, title) in enumerate(COMPARE_PLOTS):
            if i and i % columns == 0:
                self.graphics.nextRow()
            plot, note = small_plot(self.graphics.ci, title, 46, "no data in either arm")
            self._notes[key] = note
            if self.plots:
                plot.setXLink(next(iter(self.plots.values())))
            self.plots[key] = plot
            for arm, colour in zip(arms, ARM_COLOURS):
                curve = curve_item(colour, CURVE_WIDTH, key in SPARSE, arm)
                plot.addItem(curve)
                self.curves[(arm, key)] = curve
        self.ranges = FollowRanges(list(self.plots.values()))
        self.set_legend(("",) * len(arms))
        self.start_redrawing(self.graphics.scene(), next(iter(self.plots.values())))

    @property
    def series(self) -> dict[tuple[str, str], CurveView]:
        """(arm, row key) -> the metric, for each plotted metric an arm logged so far."""
        return {
            (arm, key): data.view(key)
            for arm, data in self.data.items()
            for key in data.plotted()
            if key in self.plots
        }

    def set_legend(self, titles: tuple[str, ...]) -> None:
        parts = [
            f"<span style='color:{c}'>━━ <b>{arm}</b></span>"
            f"<span style='color:#cccccc'>&nbsp;{t}</span>"
            for arm, c, t in zip(self.arms, ARM_COLOURS, titles)
        ]
        self.legend.setText("&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;".join(parts))

    def clear_run(self) -> None:
        """New runs: forget every point."""
        for data in self.data.values():
            data.clear()
        for curve in self.curves.values():
            curve.setData([], [])
        for note in self._notes.values():
            note.setVisible(True)
        self.ranges.release()
        self._dirty = True

    def add_frame(self, frame: Frame) -> None:
        """Store every arm's rows; the plots redraw on their own timer."""
        for arm, snap in zip(self.arms, frame.arms):
            if self.data[arm].add_snapshot(snap):
                self._dirty = True

    def redraw(self) -> None:
        series = self.series
        x_view = self.x_view()
        for (arm, key), s in series.items():
            width = max(int(self.plots[key].getViewBox().width()), MIN_WIDTH)
            xs, ys = s.display(width, x_view)
            if key in SPARSE:  # dots only where they can be told apart
                set_dots(self.curves[(arm, key)], len(xs) <= MAX_DOTS)
            self.curves[(arm, key)].setData(xs, ys)
            self._notes[key].setVisible(False)
        self.ranges.update(
            [merge_bounds([s for (_, k), s in series.items() if k == key]) for key in self.plots]
        )
        self._dirty = False


__all__ = ["ARM_COLOURS", "COMPARE_PLOTS", "CompareCurves"]
