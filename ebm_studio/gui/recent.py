"""File > Open recent: the last checkpoints (presets, data files) saved or opened, kept in the
window's QSettings under ``key``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8
SETTINGS_KEY = "recent_checkpoints"


class RecentFiles:
    """The list behind ``menu``; choosing an entry calls ``open_path`` with its path."""

    def __init__(
        self,
        menu: QMenu,
        settings: QSettings | None,
        open_path: Callable[[str], object],
        key: str = SETTINGS_KEY,
    ) -> None:
        self.menu = menu
        self.settings = settings
        self.key = key
        self._open_path = open_path
        value = settings.value(key, []) if settings is not None else []
        if isinstance(value, str):  # QSettings returns a one-item list as a plain string
            value = [value]
        self._paths = [str(v) for v in (value or [])][:MAX_RECENT]
        self._rebuild()

    def paths(self) -> list[str]:
        return list(self._paths)

    def add(self, path: str) -> None:
        """``path`` (made absolute) first; the oldest falls off past ``MAX_RECENT``."""
        path = str(Path(path).resolve())
        self._paths = [path] + [p for p in self._paths if p != path][: MAX_RECENT - 1]
        self._save()

    def clear(self) -> None:
        self._paths = []
        self._save()

    def last_dir(self) -> str:
        """The folder of the newest entry: where file dialogs open."""
        return str(Path(self._paths[0]).parent) if self._paths else ""

    def _save(self) -> None:
        if self.settings is not None:
            self.settings.setValue(self.key, self._paths)
        self._rebuild()

    def _rebuild(self) -> None:
        self.menu.clear()
        for path in self._paths:
            act = self.menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self._open_path(p))
        if self._paths:
            self.menu.addSeparator()
        self.menu.addAction("Clear list", self.clear)
        self.menu.setEnabled(True)


__all__ = ["RecentFiles", "MAX_RECENT"]
