"""The main window's menu bar: File, Edit, Run and View."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QKeySequence

from ..core.config import ConfigError
from .actions import make_action
from .publication import publication_dialog
from .recent import RecentFiles

if TYPE_CHECKING:
    from .main_window import MainWindow


def build_menus(w: MainWindow) -> None:
    """Fill ``w``'s menu bar; the actions it creates become attributes of ``w``."""
    _file_menu(w)
    _edit_menu(w)
    run_menu = w.menuBar().addMenu("&Run")
    for a in (w.play_action, w.step_action, w.reset_action, w.train_n_action, w.sample_action):
        run_menu.addAction(a)
    run_menu.addSeparator()
    w.compare_action = make_action(
        w,
        "&Compare...",
        "C",
        w.open_compare,
        tip="Two runs side by side on these settings, arm B with a few changed (lock-step)",
    )
    run_menu.addAction(w.compare_action)
    w.view_menu = w.menuBar().addMenu("&View")
    for dock in (w.settings_dock, w.curves_dock, w.health_dock):
        w.view_menu.addAction(dock.toggleViewAction())
    w.view_menu.addAction(w.transport.toggleViewAction())
    from .sweep_actions import install_sweep_actions

    install_sweep_actions(w)


def _file_menu(w: MainWindow) -> None:
    from ..core.presets import list_presets

    file_menu = w.menuBar().addMenu("&File")
    presets = file_menu.addMenu("Open &preset")
    try:
        shipped = list_presets()
    except ConfigError as e:  # a broken shipped preset must not stop the window
        shipped = []
        w.statusBar().showMessage(str(e), 10000)
    for p in shipped:
        act = presets.addAction(p.name)
        act.setToolTip(p.description)
        act.triggered.connect(lambda _=False, name=p.name: w.open_preset(name))
    if shipped:
        presets.addSeparator()
    presets.addAction("From file...", w.open_preset_dialog)
    file_menu.addAction("Save current settings as pr&eset...", w.save_preset_dialog)
    file_menu.addSeparator()
    file_menu.addAction("Open CSV &points...", w.data_panel.choose_csv)
    file_menu.addSeparator()
    w.open_checkpoint_action = make_action(
        w, "&Open checkpoint...", "Ctrl+O", w.open_checkpoint_dialog
    )
    w.save_checkpoint_action = make_action(
        w, "&Save checkpoint...", "Ctrl+S", w.save_checkpoint_dialog
    )
    file_menu.addAction(w.open_checkpoint_action)
    w.recent_menu = file_menu.addMenu("Open &recent")
    w.recent = RecentFiles(w.recent_menu, w.settings, w.open_checkpoint)
    file_menu.addAction(w.save_checkpoint_action)
    file_menu.addSeparator()
    w.export_menu = file_menu.addMenu("&Export")
    w.export_action = make_action(
        w, "&Figure as on screen (PNG, SVG)...", "Ctrl+E", w.export_dialog
    )
    w.export_menu.addAction(w.export_action)
    w.publication_action = make_action(
        w,
        "&Publication figure (PDF, SVG, PNG, EPS)...",
        "Ctrl+Shift+E",
        lambda: publication_dialog(w),
    )
    w.export_menu.addAction(w.publication_action)
    w.export_menu.addAction("&Metrics CSV...", w.export_metrics_dialog)
    w.export_menu.addAction(w.record_action)
    file_menu.addAction("Export &metrics CSV...", w.export_metrics_dialog)
    file_menu.addSeparator()
    quit_action = file_menu.addAction("&Quit")
    quit_action.setShortcut(QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(w.close)


def _edit_menu(w: MainWindow) -> None:
    edit_menu = w.menuBar().addMenu("&Edit")
    w.copy_share_action = make_action(
        w,
        "&Copy share string",
        "Ctrl+Shift+C",
        w.copy_share_string,
        tip="Copy a text that reproduces these settings (config and seed)",
    )
    w.paste_share_action = make_action(
        w,
        "&Paste share string",
        "Ctrl+Shift+V",
        w.paste_share_from_clipboard,
        tip="Start a new run with the settings of a copied share string",
    )
    edit_menu.addAction(w.copy_share_action)
    edit_menu.addAction(w.paste_share_action)


__all__ = ["build_menus"]
