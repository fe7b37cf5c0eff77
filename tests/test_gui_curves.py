"""The metric curves' ranges: they hold the data, move in coarse steps, and leave a range the
user zoomed to alone until a double-click."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from ebm_studio.gui.curve_data import CurveData
from ebm_studio.gui.curves import RANGE_SHRINK, CurvesPanel, follow, nice_range
from ebm_studio.gui.export import qimage_to_rgb


@pytest.mark.parametrize(
    "lo, hi", [(0.0, 1.0), (-3.7, 12.2), (1e-4, 3e-4), (2500.0, 2500.0), (0.0, 0.0), (-5.0, -1.0)]
)
def test_nice_range_holds_the_data_on_round_bounds(lo, hi):
    a, b = nice_range(lo, hi)
    assert a < lo <= hi < b
    span = (hi - lo) or (0.1 * abs(hi) if hi else 1.0)
    assert b - a <= 3 * span  # padded and rounded, not blown up
    # Both bounds are whole multiples of one 1-2-5 step no finer than a 30th of the range.
    steps = [m * 10.0**e for e in range(-8, 8) for m in (1, 2, 5) if m * 10.0**e >= (b - a) / 30]
    assert any(np.allclose([a / s, b / s], np.round([a / s, b / s]), atol=1e-6) for s in steps)


def test_follow_keeps_a_range_until_the_data_leave_or_shrink_inside_it():
    r = follow(None, 0.0, 10.0)
    assert follow(r, 0.5, 9.5) == r  # inside, and filling it: unchanged (same object)
    grown = follow(r, 0.0, 20.0)
    assert grown != r and grown[0] <= 0.0 and grown[1] >= 20.0
    lower = follow(r, -1.0, 10.0)
    assert lower[0] <= -1.0
    assert follow(None, 3.0, 500.0, floor=0.0)[0] == 0.0  # padded down to the floor, not past
    assert follow(None, -2.0, 500.0, floor=0.0)[0] <= -2.0  # data below the floor still show
    small = RANGE_SHRINK * (r[1] - r[0]) * 0.9
    shrunk = follow(r, 5.0, 5.0 + small)
    assert shrunk != r and shrunk[0] <= 5.0 and shrunk[1] >= 5.0 + small


def test_curve_bounds_follow_appends_and_rollbacks():
    data = CurveData()
    assert "y" not in data.plotted()
    for step, y in enumerate([3.0, -1.0, 7.0, 2.0], start=1):
        data.add_row({"step": step, "y": y})
    assert data.view("y").bounds() == (1.0, 4.0, -1.0, 7.0)
    data.add_row({"step": 3, "y": 0.5})  # steps 3 and 4 undone (7 was among them), 3 again
    assert data.view("y").bounds() == (1.0, 3.0, -1.0, 3.0)
    data.add_row({"step": 1, "y": 4.0})
    assert data.view("y").bounds() == (1.0, 1.0, 4.0, 4.0)


def double_click(widget, pos: QPoint) -> None:
    """Press, release, double-click, release: the sequence a real double-click sends."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, buttons in (
        (QEvent.Type.MouseButtonPress, left),
        (QEvent.Type.MouseButtonRelease, none),
        (QEvent.Type.MouseButtonDblClick, left),
        (QEvent.Type.MouseButtonRelease, none),
    ):
        point = QPointF(pos)
        event = QMouseEvent(
            kind, point, widget.mapToGlobal(point), left, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(widget, event)


def _panel(qtbot) -> CurvesPanel:
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 400)
    panel.show()
    QApplication.processEvents()
    return panel


def _feed(panel: CurvesPanel, steps, loss) -> None:
    for step, value in zip(steps, loss):
        panel.add_row({"step": int(step), "loss": float(value), "gap": float(-value)})
    panel.redraw()


def _ranges(panel: CurvesPanel, i: int) -> tuple[tuple[float, float], tuple[float, float]]:
    (x0, x1), (y0, y1) = panel.plots[i].getViewBox().viewRange()
    return (x0, x1), (y0, y1)


def test_curve_ranges_hold_the_data_and_stay_put_for_points_inside(qtbot):
    panel = _panel(qtbot)
    rng = np.random.default_rng(0)
    _feed(panel, range(1, 201), rng.uniform(0.0, 1.0, 200))
    (x0, x1), (y0, y1) = _ranges(panel, 0)
    assert x0 <= 1 and x1 >= 200 and y0 <= 0.0 and y1 >= 1.0
    (_, _), (g0, g1) = _ranges(panel, 1)  # the gap plot has its own y range
    assert g0 <= -1.0 and g1 >= 0.0 and g1 <= 1.0
    before = _ranges(panel, 0)
    _feed(panel, range(201, 206), rng.uniform(0.1, 0.9, 5))  # new steps, values inside
    assert _ranges(panel, 0) == before
    _feed(panel, [206], [5.0])  # a value outside: the range grows to hold it
    (_, _), (_, y1) = _ranges(panel, 0)
    assert y1 >= 5.0
    _feed(panel, range(207, 600), rng.uniform(0.0, 1.0, 393))  # steps past the x range
    (x0, x1), _ = _ranges(panel, 0)
    assert x1 >= 599
    assert _ranges(panel, 3)[0] == (x0, x1)  # the x axes are linked


def test_a_zoomed_curve_stays_zoomed_until_a_double_click(qtbot):
    panel = _panel(qtbot)
    _feed(panel, range(1, 101), np.linspace(0.0, 1.0, 100))
    vb = panel.plots[0].getViewBox()
    centre = vb.mapViewToScene(QPointF(50.0, 0.5))
    pos = panel.mapFromScene(centre)
    wheel = QWheelEvent(
        QPointF(pos),
        QPointF(panel.mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 240),  # two notches: zoom in
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(panel.viewport(), wheel)
    zoomed = _ranges(panel, 0)
    assert zoomed[0][1] - zoomed[0][0] < 90  # the wheel zoomed in
    assert panel.ranges.user_x
    _feed(panel, range(101, 301), np.linspace(1.0, 3.0, 200))  # data far outside the zoom
    assert _ranges(panel, 0) == zoomed
    double_click(panel.viewport(), pos)
    (x0, x1), (y0, y1) = _ranges(panel, 0)
    assert x0 <= 1 and x1 >= 300 and y0 <= 0.0 and y1 >= 3.0


def test_cached_axes_redraw_their_labels_when_the_range_moves(qtbot):
    """The axes are drawn from a cached pixmap; a range change must still show new labels."""
    panel = _panel(qtbot)
    _feed(panel, range(1, 101), np.linspace(0.0, 1.0, 100))
    QApplication.processEvents()
    axis = panel.plots[0].getAxis("left")
    rect = axis.mapRectToScene(axis.rect()).toRect()  # the strip of tick labels only

    def strip():
        region = panel.grab(panel.mapFromScene(rect).boundingRect())
        return qimage_to_rgb(region.toImage())

    before = strip()
    _feed(panel, range(101, 110), np.full(9, 1.0))  # inside the range: labels unchanged
    QApplication.processEvents()
    assert np.array_equal(strip(), before)
    _feed(panel, [110], [1000.0])  # far outside: the y range and its labels change
    QApplication.processEvents()
    assert not np.array_equal(strip(), before)


def test_markers_merge_edits_of_one_setting_by_key(qtbot):
    """Consecutive edits of one setting within 25 steps share a marker (first old value,
    newest value, first step); another setting, a later edit or a rollback get their own."""
    from ebm_studio.core.frames import ConfigChange, Note, Rollback

    panel = _panel(qtbot)
    step_size = "sampler.step_size"
    panel.add_event(ConfigChange(10, step_size, 0.01, 0.02))
    panel.add_event(ConfigChange(20, step_size, 0.02, 0.05))
    panel.add_event(ConfigChange(35, step_size, 0.05, 0.1))  # 25 steps after the first: merged
    assert panel.marker_labels() == ["step size eta 0.01 -> 0.1"]
    panel.add_event(ConfigChange(36, step_size, 0.1, 0.2))  # 26 steps after: a new marker
    panel.add_event(ConfigChange(37, "sampler.temperature", 1.0, 0.5))
    panel.add_event(ConfigChange(38, "sampler.temperature", 0.5, 0.25))
    panel.add_event(Rollback(30, failed_at=39))
    panel.add_event(Note(40, "a note"))
    assert panel.marker_labels() == [
        "step size eta 0.01 -> 0.1",
        "step size eta 0.1 -> 0.2",
        "temperature T 1 -> 0.25",
        "diverged at 39: rolled back",
        "a note",
    ]
    first = panel.markers[0]
    assert first.lines[0].value() == 10 and first.lines[0].label.format == first.event.label


def test_curves_draw_a_width_bound_reduction_and_a_zoom_shows_every_row(qtbot):
    from ebm_studio.core.frames import Snapshot
    from ebm_studio.core.history import History

    panel = _panel(qtbot)
    n = 200_000
    steps = np.arange(1, n + 1, dtype=float)
    loss = np.sin(steps / 500) + np.random.default_rng(0).normal(0, 0.1, n)
    loss = loss.astype(np.float32)  # as the history stores a per-step metric
    history = History.from_arrays({"dense.step": steps, "dense.loss": loss})
    panel.add_snapshot(Snapshot(n, 4.5, None, None, None, None, None, None, history=history))
    panel.redraw()
    curve = panel.curves["loss"]
    width = panel.plots[0].getViewBox().width()
    assert len(curve.xData) <= 4 * width + 4  # two points per bin, at most two bins a pixel
    assert curve.yData.max() == loss.max() and curve.yData.min() == loss.min()
    panel.ranges.user_x = True  # as a mouse zoom does
    panel.plots[0].setXRange(1000, 1100, padding=0)
    QApplication.processEvents()
    panel.redraw()
    x0, x1 = panel.plots[0].getViewBox().viewRange()[0]
    assert x1 - x0 < 1000  # zoomed in: a few hundred rows at most in view
    shown = dict(zip(curve.xData, curve.yData))
    assert all(shown[s] == loss[s - 1] for s in range(int(np.ceil(x0)), int(x1) + 1))
