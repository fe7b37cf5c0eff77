"""Pure helpers of the landscape view: heatmap quantities, colour ranges, contours, histograms."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_studio.gui.landscape import (
    cell_centres,
    contour_segments,
    heatmap_values,
    histogram_image,
    robust_range,
)


def test_density_and_log_density_are_normalised_on_the_grid():
    box, res = 3.0, 64
    c = cell_centres(box, res)
    xx, yy = np.meshgrid(c, c)
    energy = 0.5 * (xx**2 + yy**2) + 7.0  # a Gaussian up to a constant
    cell = (2 * box / res) ** 2
    dens = heatmap_values(energy, None, "density", box)
    assert dens.sum() * cell == pytest.approx(1.0, rel=1e-9)
    assert dens.max() == pytest.approx(1 / (2 * np.pi), rel=0.02)  # peak of N(0, I)
    logd = heatmap_values(energy, None, "log-density", box)
    assert np.allclose(np.exp(logd), dens)
    assert heatmap_values(energy, None, "energy", box) is energy


def test_robust_range_ignores_a_spike():
    v = np.linspace(0, 1, 10_000)
    v[0] = 1e9
    lo, hi = robust_range(v, "energy")
    assert hi < 2 and lo >= 0
    assert robust_range(v, "density")[0] == 0.0


def test_robust_levels_move_towards_their_target_and_rest_within_tolerance():
    from ebm_studio.gui.landscape import LEVELS_TOLERANCE, ROBUST_SMOOTHING, smoothed_levels

    levels = (0.0, 10.0)
    moved = smoothed_levels(levels, (2.0, 10.0))
    assert moved == pytest.approx((2.0 * ROBUST_SMOOTHING, 10.0))
    near = (0.5 * LEVELS_TOLERANCE * 10.0, 10.0 - 0.5 * LEVELS_TOLERANCE * 10.0)
    assert smoothed_levels(levels, near) is levels  # within tolerance: the very same levels
    for _ in range(100):  # converges to within the tolerance of a fixed target, then rests
        levels = smoothed_levels(levels, (-3.0, 4.0))
    assert abs(levels[0] + 3.0) <= LEVELS_TOLERANCE * 7.1 and abs(levels[1] - 4.0) <= 0.071
    assert smoothed_levels(levels, (-3.0, 4.0)) is levels


def test_contours_of_a_paraboloid_are_circles():
    c = cell_centres(4.5, 90)
    xx, yy = np.meshgrid(c, c)
    x, y = contour_segments(xx**2 + yy**2, np.array([1.0, 4.0]), c)
    r = np.hypot(x, y)
    assert len(x) % 2 == 0 and len(x) > 100
    assert np.all((np.abs(r - 1) < 0.02) | (np.abs(r - 2) < 0.02))


def test_histogram_counts_points_in_the_box():
    pts = np.array([[0.0, 0.0], [0.1, 0.1], [-4.4, 4.4], [10.0, 0.0]])
    h = histogram_image(pts, 4.5, res=9)
    assert h.sum() == 3  # the point outside the box is dropped
    assert h[4, 4] == 2 and h[8, 0] == 1  # rows are y: the top-left point is in the last row


def test_cached_data_layer_shows_new_data_after_a_reset(qtbot):
    """The data points are drawn from a cached pixmap; new data (a reset) must still show."""
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from ebm_studio.core.frames import Snapshot, StaticLayers
    from ebm_studio.gui.export import qimage_to_rgb
    from ebm_studio.gui.landscape import DATA_COLOUR, LandscapeView

    view = LandscapeView()
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    energy = np.zeros((50, 50), np.float32)

    def frame(data: np.ndarray) -> np.ndarray:
        snap = Snapshot(0, 4.5, energy, None, None, None, None, None, static=StaticLayers(data))
        view.show_snapshot(snap)
        for _ in range(3):
            QApplication.processEvents()
        return qimage_to_rgb(view.grab().toImage())

    def data_pixels_near(img: np.ndarray, x: float, y: float) -> int:
        p = view.plot.getViewBox().mapViewToScene(QPointF(x, y))
        q = view.mapFromScene(p)
        patch = img[max(q.y() - 15, 0) : q.y() + 15, max(q.x() - 15, 0) : q.x() + 15].astype(int)
        return int((np.abs(patch - np.array(DATA_COLOUR)).sum(-1) < 30).sum())

    rng = np.random.default_rng(0)
    corners = np.array([[-3.5, -3.5], [3.5, 3.5]])  # the same bounds for both sets
    left = np.vstack([corners, rng.normal(0, 0.1, (300, 2)) + [-2.5, 0]]).astype(np.float32)
    right = np.vstack([corners, rng.normal(0, 0.1, (300, 2)) + [2.5, 0]]).astype(np.float32)
    first = frame(left)
    assert data_pixels_near(first, -2.5, 0) > 20 and data_pixels_near(first, 2.5, 0) == 0
    second = frame(right)
    assert data_pixels_near(second, 2.5, 0) > 20 and data_pixels_near(second, -2.5, 0) == 0
