"""Light and dark themes: the widgets' palette and the plots' background, axes and titles.

"system" follows the desktop's colour scheme (``QStyleHints.colorScheme``) and changes with
it; where the desktop says nothing (many X11 sessions, offscreen) the studio stays dark, the
look its colour maps and curve colours were chosen for. The choice is kept in QSettings.

Plots are re-coloured by walking the window's pyqtgraph views, so the views keep their own
code; a plot created later (a new run's curves) is coloured on the next ``apply_theme``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
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


def colour_plots(root: QWidget, scheme: str) -> int:
    """Background, axes and tick labels of every pyqtgraph view under ``root``; returns how
    many views were coloured."""
    c = PLOT_COLOURS[scheme]
    views = [root] if isinstance(root, pg.GraphicsView) else []
    views += root.findChildren(pg.GraphicsView)
    for view in views:
        view.setBackground(c.background)
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                item.setPen(c.axis)
                item.setTextPen(c.text)
    return len(views)


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
