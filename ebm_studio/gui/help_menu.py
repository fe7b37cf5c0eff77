"""Help menu: About (versions and device), Keyboard shortcuts (read from the window's own
actions, so the list cannot drift from the keys) and Documentation (the docs/ folder)."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMainWindow,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .actions import make_action
from .app import APP_NAME

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"


def versions() -> dict[str, str]:
    """The versions About shows, by name."""
    import numpy
    import pyqtgraph
    import PySide6
    import torch
    from PySide6 import QtCore

    from .. import __version__

    return {
        APP_NAME: __version__,
        "Python": platform.python_version(),
        "PyTorch": torch.__version__,
        "Qt": QtCore.qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "NumPy": numpy.__version__,
    }


def device_text(running: str | None) -> str:
    """The run's device and what else this machine offers."""
    import torch

    others = []
    if torch.cuda.is_available():
        others.append(f"CUDA ({torch.cuda.get_device_name(0)})")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        others.append("MPS")
    extra = ", ".join(others) if others else "CPU only"
    return f"{running or 'not started'} (available: {extra}; {torch.get_num_threads()} threads)"


def about_text(running_device: str | None) -> str:
    rows = [f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in versions().items()]
    rows.append(f"<tr><td><b>Device</b></td><td>{device_text(running_device)}</td></tr>")
    rows.append(f"<tr><td><b>Platform</b></td><td>{platform.platform()}</td></tr>")
    return (
        f"<h3>{APP_NAME}</h3><p>Train toy 2D energy-based models live, with exact log Z, "
        "NLL and KL on a grid.</p><table cellspacing='4'>" + "".join(rows) + "</table>"
    )


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(action, keys) for every action under ``window`` with a shortcut, sorted by name."""
    rows = {}
    for action in window.findChildren(QAction):
        keys = [k for k in action.shortcuts() if not k.isEmpty()]
        if not keys:
            continue
        name = action.text().replace("&", "").rstrip(".").strip() or action.toolTip()
        text = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
        rows[(name, text)] = None
    return sorted(rows, key=lambda r: r[0].lower())


def open_url(url: QUrl) -> bool:
    """Hand ``url`` to the desktop (a seam for tests)."""
    return QDesktopServices.openUrl(url)


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (name, keys) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(name))
            self.table.setItem(i, 1, QTableWidgetItem(keys))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnToContents(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(420, 480)

    def rows(self) -> list[tuple[str, str]]:
        t = self.table
        return [(t.item(i, 0).text(), t.item(i, 1).text()) for i in range(t.rowCount())]


class AboutDialog(QDialog):
    def __init__(self, window: QWidget, running_device: str | None) -> None:
        super().__init__(window)
        self.setWindowTitle(f"About {APP_NAME}")
        self.label = QLabel(about_text(running_device))
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.label.text()


class HelpActions:
    """Mixed into ``MainWindow``: the Help menu's slots. Uses ``last_snapshot``."""

    def about_dialog(self) -> AboutDialog:
        snap = getattr(self, "last_snapshot", None)
        return AboutDialog(self, snap.device if snap is not None else None)

    def show_about(self) -> None:
        self.about_dialog().exec()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def open_documentation(self) -> bool:
        if not DOCS_DIR.is_dir():
            self.statusBar().showMessage(
                f"The documentation folder {DOCS_DIR} is not installed; see the README "
                "in the source repository.",
                10000,
            )
            return False
        return open_url(QUrl.fromLocalFile(str(DOCS_DIR)))


def build_help_menu(w: QMainWindow) -> None:
    menu = w.menuBar().addMenu("&Help")
    w.shortcuts_action = make_action(
        w, "&Keyboard shortcuts", "F1", w.show_shortcuts, tip="Every key the studio answers"
    )
    w.docs_action = make_action(
        w, "&Documentation", None, w.open_documentation, tip=f"Open {DOCS_DIR}"
    )
    w.about_action = make_action(w, "&About EBM Studio", None, w.show_about)
    w.about_action.setMenuRole(QAction.MenuRole.AboutRole)
    menu.addAction(w.shortcuts_action)
    menu.addAction(w.docs_action)
    menu.addSeparator()
    menu.addAction(w.about_action)
    w.help_menu = menu


__all__ = [
    "AboutDialog",
    "HelpActions",
    "ShortcutsDialog",
    "about_text",
    "build_help_menu",
    "shortcut_rows",
    "versions",
]
