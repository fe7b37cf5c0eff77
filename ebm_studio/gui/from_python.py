"""Open the studio from Python (``ebm_studio.studio``): a window on a checkpoint, from a
notebook or a script, with or without running the event loop."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from ..core.checkpoint import read_checkpoint
from .app import APP_NAME, ORG_NAME, configure_runtime


def open_checkpoint_window(
    path: str | Path,
    *,
    block: bool = True,
    title: str = "",
    settings: QSettings | None = None,
    torch_threads: int | None = None,
):
    """Show a studio window on the checkpoint at ``path``. A bad file raises CheckpointError
    (one sentence naming it) before any window opens. With ``block`` the Qt event loop runs
    until the window closes and its exit code is returned; without, the shown window is
    returned (the caller's event loop, e.g. IPython's ``%gui qt``, drives it)."""
    import numpy as np

    from .main_window import MainWindow

    data = read_checkpoint(path)
    config, points = data.config, None
    # The checkpoint's own points rebuild a data set that lives outside the package (as
    # core.checkpoint.restore_trainer does).
    if config.data.name in ("csv", "drawn", "image"):
        points = data.tensors["data.train"].numpy().astype(np.float64)
        if config.data.name != "image":
            config = replace(config, data=replace(config.data, name="drawn", path=""))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    configure_runtime()
    window = MainWindow(
        config,
        points,
        settings=settings if settings is not None else QSettings(ORG_NAME, APP_NAME),
        title=title or Path(path).name,
        torch_threads=torch_threads,
    )
    window.show()
    window.open_checkpoint(str(path))
    if block:
        return app.exec()
    return window


__all__ = ["open_checkpoint_window"]
