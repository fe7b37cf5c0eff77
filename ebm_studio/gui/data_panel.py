"""Data panel: dataset picker with thumbnails, number of points, Draw mode and CSV import.

Choosing data starts a new run at once (the dataset is what the run is about); the drawn or
imported points travel with the Reset command as the ``points`` of dataset "drawn".
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.config import DATASETS, Config, DataConfig, field_meta
from ..core.figures.raster import density_image, points_histogram
from .controller import Controller
from .landscape import LandscapeView

# digits ship with the package; MNIST needs the user's files (data.path), so it is not listed
BUILT_IN = [n for n in DATASETS if n not in ("csv", "image", "drawn", "mnist")]
THUMB = 72
THUMB_RES = 64
THUMB_SAMPLES = 20_000
MIN_DRAWN_POINTS = 16


@lru_cache(maxsize=64)
def _thumbnail_rgb(name: str, box: float, std: float, res: int) -> np.ndarray:
    """A histogram of 20k samples: as faithful as the density picture, and ~5 ms instead of
    up to a second of quadrature for the curve-shaped sets."""
    import torch

    from ..core.datasets import make_dataset

    ds = make_dataset(DataConfig(name=name, box=box, std=std), None)
    x = ds.sample(THUMB_SAMPLES, torch.Generator().manual_seed(0)).numpy()
    return points_rgb(x, ds.box, res)


def points_rgb(points: np.ndarray, box: float, res: int) -> np.ndarray:
    """Points as a small RGB picture (square-root counts, so faint structure shows)."""
    hist = points_histogram(np.asarray(points, dtype=np.float64), box, res)
    return np.ascontiguousarray(density_image(np.sqrt(hist), "viridis"))


def _pixmap(rgb: np.ndarray, size: int) -> QPixmap:
    h, w, _ = rgb.shape
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class DataPanel(QGroupBox):
    """Which points the model learns from. ``canvas`` is the landscape view that paints."""

    def __init__(
        self, controller: Controller, canvas: LandscapeView, parent: QWidget | None = None
    ) -> None:
        super().__init__("dataset", parent)
        self.controller = controller
        self.canvas = canvas
        self.drawn_count = 0

        self.picker = QComboBox()
        self.picker.setIconSize(QSize(28, 28))
        for name in BUILT_IN:
            self.picker.addItem(name, name)
        self.picker.addItem("drawn / imported points", "drawn")
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: #15161a; border: 1px solid #444;")

        lo, hi = field_meta("data", "n_train")["lo"], field_meta("data", "n_train")["hi"]
        self.n_points = QSpinBox()
        self.n_points.setRange(int(lo), int(hi))
        self.n_points.setSingleStep(1000)
        self.n_points.setKeyboardTracking(False)  # one reset per finished edit, not per digit
        self.n_points.setToolTip("training points drawn once per run (applies at once: reset)")

        self.draw_button = QPushButton("Draw")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Paint points on the landscape with the mouse")
        self.use_button = QPushButton("Train on drawing")
        self.clear_button = QPushButton("Clear")
        self.csv_button = QPushButton("Import CSV...")
        self.info = QLabel()
        self.info.setStyleSheet("color: #aaa;")

        grid = QGridLayout()
        grid.addWidget(QLabel("dataset"), 0, 0)
        grid.addWidget(self.picker, 0, 1)
        grid.addWidget(QLabel("points"), 1, 0)
        grid.addWidget(self.n_points, 1, 1)
        top = QHBoxLayout()
        top.addWidget(self.thumb)
        top.addLayout(grid, 1)
        buttons = QHBoxLayout()
        for b in (self.draw_button, self.use_button, self.clear_button, self.csv_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.info)

        self._sync(controller.config)
        self._set_drawn_count(0)
        self.picker.currentIndexChanged.connect(self._on_picker_changed)
        self.n_points.valueChanged.connect(self._on_n_points_changed)
        self.draw_button.toggled.connect(self._on_draw_toggled)
        self.use_button.clicked.connect(self._on_use_clicked)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        self.csv_button.clicked.connect(self._on_csv_clicked)
        canvas.points_drawn.connect(self._set_drawn_count)
        controller.config_changed.connect(self._sync)

    # ------------------------------------------------------------------ thumbnails
    def load_icons(self) -> None:
        """Thumbnails in the picker (a few ms per dataset; called once the window shows)."""
        for i, name in enumerate(BUILT_IN):
            rgb = self._thumbnail(name)
            if rgb is not None:
                self.picker.setItemIcon(i, QIcon(_pixmap(rgb, 28)))
        self._update_thumbnail()

    def _thumbnail(self, name: str) -> np.ndarray | None:
        d = self.controller.config.data
        try:
            return _thumbnail_rgb(name, d.box, d.std, THUMB_RES)
        except Exception:  # a thumbnail must never break the panel
            return None

    def _update_thumbnail(self) -> None:
        d = self.controller.config.data
        rgb = None
        if d.name in BUILT_IN:
            rgb = self._thumbnail(d.name)
        elif self.controller.points is not None and len(self.controller.points):
            rgb = points_rgb(self.controller.points, d.box, THUMB_RES)
        if rgb is None:
            self.thumb.clear()
        else:
            self.thumb.setPixmap(_pixmap(rgb, THUMB))

    # ------------------------------------------------------------------ sync from config
    def _sync(self, config: Config) -> None:
        name = config.data.name
        index = self.picker.findData(name if name in BUILT_IN else "drawn")
        self.picker.blockSignals(True)
        self.picker.setCurrentIndex(max(index, 0))
        self.picker.blockSignals(False)
        self.n_points.blockSignals(True)
        self.n_points.setValue(config.data.n_train)
        self.n_points.blockSignals(False)
        self._update_thumbnail()

    # ------------------------------------------------------------------ edits
    def _on_picker_changed(self, index: int) -> None:
        name = self.picker.itemData(index)
        if name == "drawn":
            if self.controller.points is None:
                self.controller.message_posted.emit(
                    "Draw points on the landscape (Draw) or import a CSV file first."
                )
                self._sync(self.controller.config)
                return
            self.controller.set_data("drawn", path=self.controller.config.data.path)
        else:
            self.controller.set_data(name)

    def _on_n_points_changed(self, n: int) -> None:
        if self.controller.set_value("data.n_train", n):
            self.controller.reset()

    def _on_draw_toggled(self, on: bool) -> None:
        self.canvas.set_drawing(on)
        if on:
            self.controller.message_posted.emit(
                "Draw mode: drag on the landscape to paint points, then 'Train on drawing'."
            )

    def _on_use_clicked(self) -> None:
        self.use_drawing()

    def _on_clear_clicked(self) -> None:
        self.canvas.clear_drawing()

    def _on_csv_clicked(self) -> None:
        self.choose_csv()

    def choose_csv(self) -> None:
        """Ask for a CSV file of points and train on it."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Import points", "", "CSV files (*.csv *.txt);;All files (*)"
        )
        if path:
            self.import_csv(path)

    # ------------------------------------------------------------------ actions
    def _set_drawn_count(self, n: int) -> None:
        self.drawn_count = n
        self.use_button.setEnabled(n >= MIN_DRAWN_POINTS)
        self.clear_button.setEnabled(n > 0)
        self.info.setText(f"{n} points drawn" if n else "")

    def use_drawing(self) -> None:
        """Train on the painted points (dataset "drawn")."""
        pts = self.canvas.drawn_points()
        if len(pts) < MIN_DRAWN_POINTS:
            self.controller.message_posted.emit(
                f"Draw at least {MIN_DRAWN_POINTS} points first ({len(pts)} so far)."
            )
            return
        self.draw_button.setChecked(False)
        self.controller.set_data("drawn", points=pts)

    def import_csv(self, path: str | Path) -> bool:
        """Load two-column points and train on them; a bad file is reported, nothing changes."""
        from ..core.datasets import DataError, load_csv_points

        try:
            pts = load_csv_points(path)
        except (DataError, OSError) as e:
            self.controller.message_posted.emit(str(e))
            return False
        self.controller.set_data("drawn", points=np.asarray(pts, np.float64), path=str(path))
        self.controller.message_posted.emit(f"Imported {len(pts)} points from {Path(path).name}")
        return True


__all__ = ["DataPanel"]
