"""A studio recording with the same matplotlib axes and colour bar as ``ebm-studio sample``
animations: the recorder captures only the plot's data area (the view box, at the data range
shown when the recording starts), and each saved frame is that picture placed into an
``AxesFrame`` drawn once with the view's quantity, colour map, colour levels and range.

Levels are taken at the start: with "locked" levels the colour bar stays exact; with "robust"
or "auto" levels the view re-scales its colours as the landscape changes, so later frames'
colours are relative to the new levels while the bar still shows the starting ones (the
ticks then read approximately; lock the levels for a recording meant for a paper).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from PySide6.QtCore import QRectF

from ..core.figures import AxesFrame
from .landscape import LandscapeView


def view_axes_frame(view: LandscapeView) -> tuple[AxesFrame, QRectF] | None:
    """The axes frame of what ``view`` shows now and the data rectangle it spans (y up), or
    None before the first grid (the recording then keeps the whole view's pictures)."""
    shown = view.shown_layers()
    if shown.energy is None:
        return None
    rect = view.viewbox.viewRect()  # data coordinates: top() is the lowest y
    lo, hi = (float(v) for v in view.colorbar.levels())
    frame = AxesFrame(
        shown.energy,
        shown.box,
        quantity=view.view.heatmap,
        cmap=view.view.colormap,
        norm=(lo, hi if hi > lo else lo + 1e-6),
        extent=(rect.left(), rect.right(), rect.top(), rect.bottom()),
    )
    return frame, QRectF(rect)


def data_area(view: LandscapeView, rect: QRectF):
    """A callable giving the scene rectangle of the data ``rect`` now (the window may have
    been resized since the start); a zoom or pan during the recording leaves the captured
    range where it started, so every frame matches the axes' ticks."""
    return lambda: view.viewbox.mapViewToScene(rect).boundingRect()


def placed(frame: AxesFrame, pictures: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Each captured picture composited into the axes (lazily: one full frame at a time)."""
    return (frame.place(p) for p in pictures)


__all__ = ["data_area", "placed", "view_axes_frame"]
