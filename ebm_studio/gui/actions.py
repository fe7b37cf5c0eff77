"""What the main window and the compare window share: toolbar actions and the transport
commands (play, pause, step, train N) that both controllers send to their worker thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

from ..worker.commands import Command, SetPlaying, StepOnce, TrainSteps


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


class Transport:
    """Play / pause / step / train N for a controller that has ``_send`` and ``playing``."""

    playing: bool

    def _send(self, command: Command) -> None:
        raise NotImplementedError

    def play(self) -> None:
        self._send(SetPlaying(True))

    def pause(self) -> None:
        self._send(SetPlaying(False))

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def step_once(self) -> None:
        self._send(StepOnce())

    def train_steps(self, n: int) -> None:
        self._send(TrainSteps(int(n)))
