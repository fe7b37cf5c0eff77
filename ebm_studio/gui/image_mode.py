"""Image mode: when the run's data are images (digits, MNIST) the main window shows
``ImageModeView`` in place of the landscape, and the 2D-only controls say so. The choice
follows the dataset: switching between a 2D dataset and digits swaps the views.
"""

from __future__ import annotations

from PySide6.QtWidgets import QStackedWidget, QWidget

from ..core.config import Config
from .controls import SECTION_TITLES
from .image_rules import is_image_config
from .image_views import ImageModeView

TWO_D_ONLY = "2D only"


class ImageMode:
    """Owns the central stack (landscape or image views) of ``window`` (a ``MainWindow``)
    and the 2D-only widgets' state."""

    def __init__(self, window, landscape: QWidget) -> None:
        self.window = window
        self.view = ImageModeView()
        self.stack = QStackedWidget()
        self.stack.addWidget(landscape)
        self.stack.addWidget(self.view)
        self.active = False

    def sync(self, config: Config) -> None:
        """Show the views that fit ``config``'s data."""
        on = is_image_config(config)
        if on != self.active:
            self.view.clear_run()
        self.active = on
        self.stack.setCurrentWidget(self.view if on else self.stack.widget(0))
        w = self.window
        panel = w.data_panel
        for b in (panel.draw_button, panel.use_button, panel.clear_button, panel.csv_button):
            b.setEnabled(not on)
            b.setToolTip(TWO_D_ONLY if on else b.toolTip().replace(TWO_D_ONLY, "") or b.text())
        # the view section draws the landscape (heatmap, trails, contours): 2D only
        view = w.controls.root.child("view")
        view.setOpts(title=f"view ({TWO_D_ONLY})" if on else SECTION_TITLES["view"])
        if on:
            view.setOpts(expanded=False)
        w.record_action.setEnabled(not on)
        w.record_action.setToolTip(
            "Recording the landscape: " + TWO_D_ONLY if on else "Record the landscape view"
        )

    def show_snapshot(self, snap) -> bool:
        """Draw ``snap`` in image mode; False in 2D mode (the landscape draws it)."""
        if not self.active:
            return False
        self.view.show_snapshot(snap)
        return True


__all__ = ["ImageMode", "TWO_D_ONLY"]
