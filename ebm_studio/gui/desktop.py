"""Desktop conventions of the main window: files dropped on it or named on the command line,
recent presets and data files beside the recent checkpoints, and the light/dark theme.

Everything opened goes through ``open_target``: a CSV becomes the data set, an image the
density, a ``.safetensors`` file the run, a ``.toml`` file the settings and a share string the
settings with a new run. A file of another type, a missing or unreadable one or a share string
that does not decode is refused with one sentence (banner and status bar); nothing changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction, QActionGroup, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QGraphicsView

from ..core.config import Config, ConfigError
from ..core.targets import Target, classify
from .recent import RecentFiles
from .theme import SETTINGS_KEY as THEME_KEY
from .theme import THEMES, apply_theme, colour_plots, resolve, saved_theme

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData

THEME_TITLES = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}
DATA_SETS_FROM_FILES = ("drawn", "csv", "image")


def dropped_target(mime: QMimeData) -> str | None:
    """The first local file (or a share string's text) carried by a drag, else None."""
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()
        return None
    if mime.hasText() and mime.text().strip():
        return mime.text().strip()
    return None


class DesktopActions:
    """Mixed into ``MainWindow`` ahead of ``FileActions`` (whose ``open_preset`` and
    ``save_preset`` it extends with the recent list). Call ``setup_desktop`` once the menus
    exist."""

    # ------------------------------------------------------------------ construction
    def setup_desktop(self) -> None:
        self.setAcceptDrops(True)
        # Views would take a drag for their scene and swallow it; the window takes it instead.
        for view in self.findChildren(QGraphicsView):
            view.setAcceptDrops(False)
            view.viewport().setAcceptDrops(False)
        file_menu = self.recent_menu.parentWidget()
        anchor = self.recent_menu.menuAction()
        self.recent_menu.setTitle("Open &recent checkpoint")
        self.recent_presets_menu = file_menu.addMenu("Recent pr&esets")
        self.recent_data_menu = file_menu.addMenu("Recent &data files")
        for m in (self.recent_presets_menu, self.recent_data_menu):
            file_menu.removeAction(m.menuAction())
            file_menu.insertAction(self._after(file_menu, anchor), m.menuAction())
            anchor = m.menuAction()
        self.recent_presets = RecentFiles(
            self.recent_presets_menu, self.settings, self.open_target, key="recent_presets"
        )
        self.recent_data = RecentFiles(
            self.recent_data_menu, self.settings, self.open_target, key="recent_data"
        )
        self.controller.config_changed.connect(self._remember_data_file)
        self._build_theme_menu()
        app = QApplication.instance()
        if app is not None:
            app.styleHints().colorSchemeChanged.connect(self._on_system_scheme_changed)
        # Curves and titles appear as their metrics first arrive, in the dark colours they
        # were written with: a light theme looks them over once a second.
        self.theme_timer = QTimer(self)
        self.theme_timer.setInterval(1000)
        self.theme_timer.timeout.connect(self._recolour_new_plots)
        self.theme_timer.start()

    @staticmethod
    def _after(menu, action: QAction) -> QAction | None:
        actions = menu.actions()
        i = actions.index(action)
        return actions[i + 1] if i + 1 < len(actions) else None

    def _build_theme_menu(self) -> None:
        self.theme = saved_theme(self.settings)
        menu = self.view_menu
        menu.addSeparator()
        sub = menu.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in THEMES:
            act = sub.addAction(THEME_TITLES[name])
            act.setCheckable(True)
            act.setChecked(name == self.theme)
            act.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            group.addAction(act)
            self.theme_actions[name] = act
        self.theme_menu = sub
        self.scheme = resolve(self.theme)
        # Untouched, the studio keeps the platform's palette and its dark plots.
        if self.theme != "system" or self.scheme == "light":
            self.scheme = apply_theme(self, self.theme)

    # ------------------------------------------------------------------ theme
    def set_theme(self, theme: str) -> None:
        """Show ``theme`` ("system", "light" or "dark") and remember it."""
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}")
        self.theme = theme
        self.theme_actions[theme].setChecked(True)
        self.scheme = apply_theme(self, theme)
        if self.settings is not None:
            self.settings.setValue(THEME_KEY, theme)

    def _on_system_scheme_changed(self, *_: object) -> None:
        if self.theme == "system":
            self.scheme = apply_theme(self, "system")

    def _recolour_new_plots(self) -> None:
        if self.scheme == "light":
            colour_plots(self, "light")

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if dropped_target(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # Qt override
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        target = dropped_target(event.mimeData())
        if target is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_target(target)

    # ------------------------------------------------------------------ opening anything
    def open_target(self, target: str | Path | Target) -> bool:
        """Open a file or share string by its kind; refused input is one sentence, nothing
        changes. A checkpoint opens in the worker: its refusal arrives later, the same way."""
        try:
            t = target if isinstance(target, Target) else classify(target)
        except ConfigError as e:
            self.show_error(f"Cannot open {e}.".replace("..", "."))
            return False
        if t.kind == "share":
            return self.paste_share_string(t.value)
        if t.kind == "preset":
            return self.open_preset(t.value)
        if t.kind == "checkpoint":
            self.open_checkpoint(t.value)
            return True
        if t.kind == "image":
            return self.open_image(t.value)
        return self.data_panel.import_csv(t.value)

    def open_image(self, path: str | Path) -> bool:
        """Train on an image as a density; a bad image is refused before anything changes."""
        from ..core.datasets import DataError
        from ..core.datasets.image_density import ImageDataset

        try:
            ImageDataset(path, self.controller.config.data.box)  # read it once to check it
        except (DataError, OSError) as e:
            self.show_error(str(e))
            return False
        self.controller.set_data("image", path=str(path))
        self.statusBar().showMessage(f"Training on the image {Path(path).name} as a density", 8000)
        return True

    # ------------------------------------------------------------------ recent lists
    def open_preset(self, name_or_path: str | Path) -> bool:
        ok = super().open_preset(name_or_path)
        if ok and Path(name_or_path).suffix.lower() == ".toml" and Path(name_or_path).is_file():
            self.recent_presets.add(str(name_or_path))
        return ok

    def save_preset(self, path: str | Path) -> bool:
        ok = super().save_preset(path)
        if ok:
            self.recent_presets.add(str(path))
        return ok

    def _remember_data_file(self, config: Config) -> None:
        d = config.data
        if d.name in DATA_SETS_FROM_FILES and d.path and Path(d.path).is_file():
            self.recent_data.add(d.path)


__all__ = ["DesktopActions", "dropped_target"]
