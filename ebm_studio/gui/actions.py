"""Window actions with an icon from the style and the shortcut named in their tooltip."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget


def make_action(
    owner: QWidget,
    text: str,
    shortcut: str | None,
    slot: Callable[..., object],
    icon: QStyle.StandardPixmap | None = None,
    tip: str = "",
) -> QAction:
    """An action on ``owner`` (so its shortcut works anywhere in the window), with an icon
    from the style, and the shortcut named in its tooltip."""
    action = QAction(text, owner)
    if icon is not None:
        action.setIcon(owner.style().standardIcon(icon))
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
        tip = f"{tip or text} ({shortcut})"
    action.setToolTip(tip or text)
    action.triggered.connect(slot)
    owner.addAction(action)
    return action


__all__ = ["make_action"]
