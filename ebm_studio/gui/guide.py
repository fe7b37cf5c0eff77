"""The Guide dock: an experiment preset's claim, source, what to watch, and its steps as buttons
that act on the running studio through the ``Controller``; after a step, what was measured
against what the experiment expects.

Content comes from the preset's ``[guide]`` table (``core/guide.py``). The dock opens with any
preset that has a guide, and from Help > Experiments.
"""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..core.config import ConfigError
from ..core.datasets import make_dataset
from ..core.frames import Frame, Snapshot
from ..core.guide import Guide, GuideStep, describe_chain_modes, describe_weights
from ..core.modes import chain_mode_shares, mode_masses
from ..core.presets import Preset, list_presets

if TYPE_CHECKING:
    from .controller import Controller
    from .main_window import MainWindow

MEASURE_HZ = 2.0


class GuidePanel(QWidget):
    """One experiment's guide. ``show_guide`` fills it; a step button applies its step."""

    # A sample step changed the sample-mode options: (name, value) pairs for the settings tree.
    sample_options_applied = Signal(object)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.guide: Guide | None = None
        self.preset_name = ""
        self.active: GuideStep | None = None
        self.measured = ""  # the last measurement's sentence (tests read it)
        self._last: Snapshot | None = None
        self._values: dict[str, float] = {}  # latest kl / log_z_error seen in the rows
        self._centres: torch.Tensor | None = None
        self._weights: np.ndarray | None = None
        self._dirty = False

        self.title = QLabel()
        self.title.setObjectName("guide_title")
        self.body = QLabel()
        self.body.setObjectName("guide_body")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.steps_box = QVBoxLayout()
        self.buttons: list[QPushButton] = []
        self.result = QLabel("Choose a step.")
        self.result.setObjectName("guide_result")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.sweeps = QLabel()  # the claim over seeds: commands to copy into a terminal
        self.sweeps.setObjectName("guide_sweeps")
        self.sweeps.setWordWrap(True)
        self.sweeps.setTextFormat(Qt.TextFormat.RichText)
        self.sweeps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        inner = QWidget()
        lay = QVBoxLayout(inner)
        for w in (self.title, self.body):
            lay.addWidget(w)
        lay.addLayout(self.steps_box)
        lay.addWidget(self.result)
        lay.addWidget(self.sweeps)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(scroll)
        self.show_guide("", None)

        controller.frame_ready.connect(self._on_frame)
        controller.run_reset.connect(lambda *_: self._values.clear())
        controller.config_changed.connect(lambda *_: self._prepare_measure())
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / MEASURE_HZ))
        self._timer.timeout.connect(self._measure)
        self._timer.start()

    # ------------------------------------------------------------------ content
    def show_guide(self, name: str, guide: Guide | None) -> None:
        self.guide, self.preset_name, self.active = guide, name, None
        for b in self.buttons:
            self.steps_box.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        if guide is None:
            self.title.setText("No experiment open")
            self.body.setText("Open one from Help > Experiments (or File > Open preset, exp-*).")
            self.result.setText("")
            self.sweeps.setText("")
            return
        self.title.setText(f"<b>{html.escape(name)}</b>")
        esc = html.escape
        self.body.setText(
            f"<p><b>Claim.</b> {esc(guide.claim)}</p>"
            f"<p><b>Source.</b> <i>{esc(guide.citation)}</i></p>"
            f"<p><b>Watch.</b> {esc(guide.watch)}</p><p><b>Steps</b></p>"
        )
        for i, step in enumerate(guide.steps):
            b = QPushButton(f"{i + 1}. {step.label}")
            b.setObjectName(f"guide_step_{i}")
            b.setToolTip(f"{step.label}: {_describe(step)}")
            # Long labels shrink with the dock instead of widening it (full text in the tip).
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            b.setStyleSheet("text-align: left; padding: 4px;")
            b.clicked.connect(lambda _=False, s=step: self.apply(s))
            self.steps_box.addWidget(b)
            self.buttons.append(b)
        self.result.setText(f"<b>Expected.</b> {esc(guide.expectation)}")
        self.sweeps.setText(
            "<p><b>Over seeds.</b> "
            + " ".join(f"<br><code>{esc(c)}</code>" for c in guide.sweeps)
            + "<br>(a terminal; docs/experiments.md quotes the result)</p>"
            if guide.sweeps
            else ""
        )
        self._prepare_measure()

    def _prepare_measure(self) -> None:
        """Mode centres and true weights of the experiment's dataset (mixtures only)."""
        self._centres = self._weights = None
        try:
            ds = make_dataset(self.controller.config.data)
        except (ConfigError, ValueError, OSError):
            return
        means = getattr(ds, "means", None)
        if isinstance(means, torch.Tensor):
            self._centres = means
            w = getattr(ds, "weights", None)
            self._weights = None if w is None else np.asarray(w, dtype=np.float64)

    # ------------------------------------------------------------------ steps
    def apply(self, step: GuideStep) -> None:
        """Do what ``step`` says, live, through the controller."""
        c, s = self.controller, step.settings_dict()
        if step.action == "train":
            if c.sampling:
                c.set_sample_mode(False)
            c.train_steps(int(s["steps"]))
        elif step.action == "set":
            for key, value in s.items():
                c.set_value(key, value)
        elif step.action == "reset":
            c.reset()
        elif step.action == "sample":
            self.sample_options_applied.emit(tuple(s.items()))
            c.set_sample_options(dataclasses.replace(c.sample_options, **s))
            c.set_sample_mode(True)  # (re)starts the chains with these options
            c.play()  # the chains move while the studio plays
        elif step.action == "stop_sampling":
            c.set_sample_mode(False)
        self.active = step
        self._dirty = True
        self.result.setText(f"<b>After {html.escape(step.label)}:</b> running...")

    # ------------------------------------------------------------------ measurement
    def _on_frame(self, frame: Frame) -> None:
        snap = frame.arms[0]
        for r in snap.rows:
            for k in ("kl", "log_z_error"):
                if k in r:
                    self._values[k] = r[k]
        self._last = snap
        self._dirty = True

    def measurement(self) -> str:
        """The guide's measure on the latest frame, as a sentence ("" when not available)."""
        g, snap = self.guide, self._last
        if g is None or snap is None:
            return ""
        if g.measure in ("kl", "log_z_error"):
            v = self._values.get(g.measure)
            name = "KL(data || model)" if g.measure == "kl" else "|learned log Z - grid log Z|"
            return "" if v is None else f"{name} = {v:.3f} nats at step {snap.step}"
        if self._centres is None:
            return ""
        if g.measure == "chain_modes" and snap.chains is not None and len(snap.chains):
            shares = chain_mode_shares(torch.from_numpy(snap.chains), self._centres)
            where = (
                f"sample-mode chains after {snap.sample.steps} sampler steps"
                if snap.sample is not None
                else "training chains"
            )
            return f"{describe_chain_modes(shares)} ({where})"
        if g.measure == "mode_weights" and snap.energy is not None and self._weights is not None:
            learned = mode_masses(-torch.from_numpy(snap.energy), snap.box, self._centres)
            return f"{describe_weights(learned, self._weights)} at step {snap.step}"
        return ""

    def _measure(self) -> None:
        if not self._dirty or self.guide is None or self.active is None:
            return
        self._dirty = False
        text = self.measurement()
        if not text:
            return
        self.measured = text
        expect = self.active.expect or self.guide.expectation
        self.result.setText(
            f"<b>After {html.escape(self.active.label)}.</b> Measured: {html.escape(text)}."
            f"<br><b>The experiment expects:</b> {html.escape(expect)}"
        )


def _describe(step: GuideStep) -> str:
    parts = ", ".join(f"{k} = {v}" for k, v in step.settings)
    return f"{step.action}" + (f": {parts}" if parts else "")


def install_guide(w: MainWindow) -> QDockWidget:
    """Add the Guide dock to ``w`` (View menu toggle, Help > Experiments); call after the
    menus are built. Opening a preset with a guide shows it."""
    panel = GuidePanel(w.controller)
    dock = QDockWidget("Guide", w)
    dock.setObjectName("guide_dock")
    dock.setWidget(panel)
    dock.setMinimumWidth(340)
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    dock.hide()
    w.guide = panel
    w.guide_dock = dock
    w.view_menu.addAction(dock.toggleViewAction())
    panel.sample_options_applied.connect(
        lambda pairs: [w.controls.param(f"sample.{k}").setValue(v) for k, v in pairs]
    )
    menu = experiments_menu(w)
    try:
        shipped = [p for p in list_presets() if p.guide is not None]
    except ConfigError:  # File > Open preset already reports a broken shipped preset
        shipped = []
    for p in shipped:
        act = menu.addAction(p.name)
        act.setToolTip(p.description)
        act.triggered.connect(lambda _=False, name=p.name: open_experiment(w, name))
    return dock


def experiments_menu(w: MainWindow) -> QMenu:
    """Help > Experiments: the Help menu is found by its title when another part of the
    window made it, else created."""
    help_menu = None
    for act in w.menuBar().actions():
        if act.menu() is not None and act.text().replace("&", "") == "Help":
            help_menu = act.menu()
    if help_menu is None:
        help_menu = w.menuBar().addMenu("&Help")
    w.experiments_menu = help_menu.addMenu("&Experiments")
    return w.experiments_menu


def open_experiment(w: MainWindow, name: str) -> bool:
    """Open an experiment preset; ``open_preset`` shows its guide (or reports its error)."""
    return w.open_preset(name)


def show_preset_guide(w: MainWindow, preset: Preset) -> bool:
    """Show ``preset``'s guide in the dock (no guide: the dock keeps what it shows)."""
    if preset.guide is None:
        return True
    w.guide.show_guide(preset.name, preset.guide)
    w.guide_dock.show()
    w.guide_dock.raise_()
    return True


__all__ = ["GuidePanel", "install_guide", "open_experiment", "show_preset_guide"]
