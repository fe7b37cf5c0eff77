"""Light and dark themes: the widgets' palette and the plots' background, axes and titles.

"system" follows the desktop's colour scheme (``QStyleHints.colorScheme``) and changes with
it; where the desktop says nothing (many X11 sessions, offscreen) the studio stays dark, the
look its colour maps and curve colours were chosen for. The choice is kept in QSettings.

Plots are re-coloured by walking the window's pyqtgraph views, so the views keep their own
code; a plot created later (a new run's curves) is coloured on the next ``apply_theme``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import QApplication, QWidget

THEMES = ("system", "light", "dark")
SETTINGS_KEY = "theme"


@dataclass(frozen=True)
class PlotColours:
    background: str
    axis: str
    text: str


PLOT_COLOURS = {
    "dark": PlotColours("#15161a", "#606060", "#b0b0b0"),
    "light": PlotColours("#ffffff", "#808080", "#303030"),
}


def system_scheme() -> str:
    """ "light" or "dark" as the desktop says; "dark" when it says nothing."""
    app = QApplication.instance()
    if app is None:
        return "dark"
    scheme = app.styleHints().colorScheme()
    return "light" if scheme == Qt.ColorScheme.Light else "dark"


def resolve(theme: str) -> str:
    """The scheme a theme setting shows: "light" or "dark"."""
    return system_scheme() if theme not in ("light", "dark") else theme


def saved_theme(settings) -> str:
    value = settings.value(SETTINGS_KEY, "system") if settings is not None else "system"
    return value if value in THEMES else "system"


def palette(scheme: str) -> QPalette:
    """A complete palette for ``scheme`` (the style's standard one is light)."""
    app = QApplication.instance()
    base = app.style().standardPalette() if app is not None else QPalette()
    if scheme == "light":
        return base
    p = QPalette(base)
    roles = {
        QPalette.ColorRole.Window: "#2b2d31",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1f2024",
        QPalette.ColorRole.AlternateBase: "#2b2d31",
        QPalette.ColorRole.ToolTipBase: "#2b2d31",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#33353a",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff6e6e",
        QPalette.ColorRole.Link: "#64b5f6",
        QPalette.ColorRole.Highlight: "#3d6fb4",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#8a8a8a",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return p


LIGHT_CURVE = 200  # a pen this light (HSL lightness, 0-255) vanishes on white
TITLE_COLOURS = {"dark": "color:#bbbbbb", "light": "color:#555555"}
# A darkened curve's own (dark-theme) colour, to restore it.
ORIGINAL_PEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def colour_plots(root: QWidget, scheme: str) -> int:
    """Background, axes, titles and too-light curves of every pyqtgraph view under ``root``;
    returns how many views were coloured. Only what differs is set: an axis drawn from its
    cache renders again only when its pen really changed."""
    c = PLOT_COLOURS[scheme]
    views = [root] if isinstance(root, pg.GraphicsView) else []
    views += root.findChildren(pg.GraphicsView)
    other = TITLE_COLOURS["dark" if scheme == "light" else "light"]
    for view in views:
        if view.backgroundBrush().color() != QColor(c.background):
            view.setBackground(c.background)
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                if item.pen().color() != QColor(c.axis):
                    item.setPen(c.axis)
                if item.textPen().color() != QColor(c.text):
                    item.setTextPen(c.text)
            elif isinstance(item, pg.LabelItem) and other in item.text:
                item.setText(item.text.replace(other, TITLE_COLOURS[scheme]))
            elif isinstance(item, pg.PlotDataItem):
                _colour_curve(item, scheme)
    return len(views)


def _colour_curve(item: pg.PlotDataItem, scheme: str) -> None:
    pen = item.opts.get("pen")
    if not isinstance(pen, QPen) and pen is not None:
        pen = pg.mkPen(pen)
    if pen is None:
        return
    original = ORIGINAL_PEN.get(item)
    if scheme == "light" and original is None and pen.color().lightness() > LIGHT_CURVE:
        ORIGINAL_PEN[item] = pen.color().name()
        dark = QPen(pen)
        dark.setColor(pen.color().darker(350))
        item.setPen(dark)
    elif scheme == "dark" and original is not None:
        del ORIGINAL_PEN[item]
        restored = QPen(pen)
        restored.setColor(QColor(original))
        item.setPen(restored)


def apply_theme(window: QWidget, theme: str) -> str:
    """Show ``theme`` in the application and ``window``'s plots; returns the scheme shown."""
    scheme = resolve(theme)
    app = QApplication.instance()
    if app is not None:
        app.setPalette(palette(scheme))
    c = PLOT_COLOURS[scheme]
    # Plots made after this (new runs, new windows) start in the theme's colours.
    pg.setConfigOptions(background=c.background, foreground=c.text)
    colour_plots(window, scheme)
    return scheme


__all__ = ["PLOT_COLOURS", "THEMES", "apply_theme", "colour_plots", "resolve", "saved_theme"]
