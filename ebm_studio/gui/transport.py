"""The transport toolbar of a window that shows runs: Play/Pause, Step, Reset, Train N with its
progress, and the steps drawn per frame. The same widget drives one run (the main window) or
several in lock-step (compare mode); windows add their own actions after it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QProgressBar, QSpinBox, QStyle, QToolBar

from .actions import make_action
from .controller import Controller

RUNNING_STATES = ("playing", "sampling")


def _tips(arms: int) -> dict[str, str]:
    """Tooltips that say what one press does to one run, or to every arm in lock-step."""
    if arms == 1:
        return {
            "play": "Play / pause training",
            "step": "One optimizer step",
            "reset": "New run with every setting shown",
            "train": "Train exactly N steps, then pause",
            "n": "number of steps for 'Train'",
        }
    every = "both arms" if arms == 2 else "every arm"
    return {
        "play": f"Play / pause {every}",
        "step": "One optimizer step of each arm",
        "reset": f"Start {every} again from step 0",
        "train": f"Train {every} exactly N steps, then pause",
        "n": "number of lock-step steps for 'Train'",
    }


class TransportBar(QToolBar):
    """Transport actions for ``controller``. The actions belong to ``window`` so that their
    shortcuts (Space, S, R) work anywhere in it."""

    def __init__(self, window: QMainWindow, controller: Controller, arms: int = 1) -> None:
        super().__init__("Transport", window)
        self.setObjectName("transport_toolbar")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.controller = controller
        tips = _tips(arms)
        sp = QStyle.StandardPixmap
        c = controller
        self.play_action = make_action(
            window, "Play", "Space", c.toggle_play, sp.SP_MediaPlay, tips["play"]
        )
        self.play_action.setCheckable(True)
        self.step_action = make_action(
            window, "Step", "S", c.step_once, sp.SP_MediaSkipForward, tips["step"]
        )
        self.reset_action = make_action(
            window, "Reset", "R", c.reset, sp.SP_BrowserReload, tips["reset"]
        )
        self.train_n = QSpinBox()
        self.train_n.setRange(1, 10_000_000)
        self.train_n.setValue(500)
        self.train_n.setToolTip(tips["n"])
        self.train_n_action = make_action(
            window, "Train", None, self._on_train_triggered, sp.SP_MediaSeekForward, tips["train"]
        )
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.steps_per_frame = QSpinBox()
        self.steps_per_frame.setRange(0, 10_000)
        self.steps_per_frame.setSpecialValueText("max")
        self.steps_per_frame.setToolTip(
            "optimizer steps per drawn frame: 'max' trains flat out and drops frames; "
            "n > 0 shows every n-th step (slow motion)"
        )
        self.steps_per_frame.valueChanged.connect(c.set_steps_per_frame)
        self.clear_progress()

        for action in (self.play_action, self.step_action, self.reset_action):
            self.addAction(action)
        self.addSeparator()
        self.addAction(self.train_n_action)
        self.addWidget(self.train_n)
        self.addWidget(QLabel(" steps "))
        self.addWidget(self.progress)
        self.addSeparator()
        self.addWidget(QLabel(" steps/frame "))
        self.addWidget(self.steps_per_frame)

    def _on_train_triggered(self) -> None:
        n = self.train_n.value()
        self.show_progress((0, n))
        self.controller.train_steps(n)

    def show_state(self, state: str) -> None:
        """Play becomes Pause (checked, pause icon) while the runs go."""
        running = state in RUNNING_STATES
        self.play_action.setChecked(running)
        self.play_action.setText("Pause" if running else "Play")
        sp = QStyle.StandardPixmap
        icon = sp.SP_MediaPause if running else sp.SP_MediaPlay
        self.play_action.setIcon(self.style().standardIcon(icon))

    def show_progress(self, progress: tuple[int, int] | None) -> None:
        """``(done, total)`` of a Train-N batch; None leaves the bar as it is."""
        if progress:
            done, total = progress
            self.progress.setFormat("%v / %m")
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def clear_progress(self) -> None:
        self.progress.setFormat("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)


__all__ = ["TransportBar", "RUNNING_STATES"]
