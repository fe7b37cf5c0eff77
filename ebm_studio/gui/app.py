"""Start-up: the QApplication, pyqtgraph options and the main window."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from ..core.config import Config, ConfigError

APP_NAME = "EBM Studio"
ORG_NAME = "EBM Studio"
DEFAULT_PRESET = "buffer-ml"
# The GUI thread and the worker share the GIL. A waiting thread asks for it only after the
# switch interval (5 ms by default) and every Qt call that releases it can wait that long, so
# one repaint paid tens of ms while the worker trained; 1 ms keeps frames smooth (bench/).
SWITCH_INTERVAL_S = 0.001
_configured = False


def configure_runtime() -> None:
    """Process-wide settings for a live GUI, applied once before any plot exists."""
    global _configured
    if not _configured:
        # Row-major: our grids are (rows = y, cols = x) numpy arrays, no transpose per frame.
        pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        _configured = True


def initial_config(preset: str | None, settings: QSettings) -> tuple[Config, str]:
    """The preset asked for, else the last session's settings, else the default preset.

    Returns (config, title). A bad preset raises ConfigError; bad saved settings are ignored.
    """
    from ..core.presets import load_preset, parse_preset

    if preset:
        p = load_preset(preset)
        return p.config, p.name
    text = settings.value("last_config", "")
    if isinstance(text, str) and text:
        try:
            return parse_preset(text, source="saved settings").config, "last session"
        except ConfigError:
            pass
    try:
        return load_preset(DEFAULT_PRESET).config, DEFAULT_PRESET
    except ConfigError:
        return Config(), "defaults"


def run_app(preset: str | None = None, target=None) -> int:
    """Open the studio window (optionally with a preset) and run the event loop. ``target``
    (a ``core.targets.Target`` or a path / share string) opens once the window shows."""
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    configure_runtime()
    settings = QSettings(ORG_NAME, APP_NAME)
    config, title = initial_config(preset, settings)  # a bad preset: ConfigError for the CLI
    window = MainWindow(config, settings=settings, title=title)
    window.show()
    if target is not None:
        window.open_target(target)
    return app.exec()


__all__ = ["run_app", "configure_runtime", "initial_config"]
