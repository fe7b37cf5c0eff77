"""Settings panel generated from the config's field metadata (pyqtgraph parametertree).

Numbers get spin boxes bounded by the field's ``lo``/``hi`` (an out-of-range value cannot be
typed), choices get lists, flags get check boxes. Structural fields (``live=False``) carry
"(on Reset)" in their title and turn orange while an edit waits for Reset. Every edit goes
through ``Controller.set_value``; a rejected one snaps back to the value in force.
"""

from __future__ import annotations

import math
from dataclasses import fields

import shiboken6
from pyqtgraph.parametertree import Parameter, ParameterTree
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QTreeWidget, QVBoxLayout, QWidget

from ..core.config import SAMPLERS, SECTIONS, Config, field_meta
from .controller import Controller, SampleOptions
from .sampler_fields import sampler_field_visible

# Shown by the data panel instead (dataset picker, number of points, file path).
HANDLED_ELSEWHERE = {"data.name", "data.path", "data.n_train"}
# Settings with no effect in the studio: its worker threads never compile (samplers.py).
NOT_IN_STUDIO = {"sampler.compile"}
SECTION_TITLES = {
    "data": "data: test set, box, noise",
    "model": "model",
    "objective": "objective",
    "sampler": "sampler",
    "buffer": "replay buffer / chain bank",
    "optim": "optimizer",
    "train": "training",
    "view": "view",
}
ON_RESET = " (on Reset)"
# Which objective uses which [objective] field: the others are hidden, so the panel shows the
# settings that matter to the run (all are kept in the config and in saved presets).
OBJECTIVE_FIELDS = {
    "start": {"mcmc"},
    "alpha": {"mcmc"},
    "kl_weight": {"mcmc"},
    "kl_steps": {"mcmc"},
    "kl_sign": {"mcmc"},
    "ent_weight": {"mcmc"},
    "noise": {"nce"},
    "nu": {"nce", "fce"},
    "noise_x": {"nce"},
    "noise_y": {"nce"},
    "noise_std": {"nce"},
    "flow_layers": {"fce"},
    "flow_lr": {"fce"},
    "flow_pretrain": {"fce"},
    "sigma": {"dsm"},
    "projections": {"ssm"},
    "projection_dist": {"ssm"},
    "variance_reduced": {"ssm"},
    "proposal": {"snl"},
    "proposal_samples": {"snl"},
}


def objective_field_visible(name: str, config: Config) -> bool:
    """Whether ``objective.<name>`` matters to the configured objective."""
    o = config.objective
    users = OBJECTIVE_FIELDS.get(name)
    if users is None or o.name in users:
        return name not in ("noise_x", "noise_y", "noise_std") or o.noise == "custom"
    # SNL with the flow proposal trains the FCE flow.
    return name.startswith("flow_") and o.name == "snl" and o.proposal == "flow"


PENDING_COLOUR = QColor("#ff9800")


def parameter_spec(section: str, name: str, value: object) -> dict:
    """The parametertree options of one config field, from its metadata."""
    meta = field_meta(section, name)
    live = meta["live"]
    title = (meta["help"] or name) + ("" if live else ON_RESET)
    tip = f"{section}.{name}: {meta['help']}"
    if meta["unit"]:
        tip += f" [{meta['unit']}]"
    if not live:
        tip += "\nStructural: applies on Reset."
    spec: dict = {"name": name, "title": title, "value": value, "tip": tip}
    lo, hi = meta["lo"], meta["hi"]
    if meta["choices"]:
        spec.update(type="list", limits=list(meta["choices"]))
    elif isinstance(value, bool):
        spec.update(type="bool")
    elif isinstance(value, int):
        spec.update(type="int", limits=(lo, hi), step=1)
    elif isinstance(value, float):
        spec.update(type="float", limits=(lo, hi), dec=True, step=0.1, decimals=4)
        spec["minStep"] = _min_step(value, lo)
    else:
        spec.update(type="str")
    return spec


def _min_step(value: float, lo: float | None) -> float:
    base = 10 ** math.floor(math.log10(abs(value))) / 10 if value else 0.01
    return min(base, lo) if lo else base


def forget_root_item_with(tree: QTreeWidget) -> None:
    """Invalidate the Python wrapper of ``tree``'s invisible root item when the tree is
    destroyed.

    pyqtgraph's tree keeps that wrapper, but Qt creates and deletes the item in C++ without
    telling PySide. When the wrapper outlived the tree (waiting in a reference cycle for the
    garbage collector), PySide handed it out for the next object allocated at the same
    address: a later window failed with "'QTreeWidgetItem' object has no attribute
    'children'", or crashed.
    """
    root = QTreeWidget.invisibleRootItem(tree)
    tree.destroyed.connect(lambda *_: shiboken6.invalidate(root))


class ControlsPanel(QWidget):
    """Every setting of the run plus the sample-mode options, in one tree."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.params: dict[str, Parameter] = {}
        groups = []
        config = controller.config
        for section in SECTIONS:
            children = []
            for f in fields(getattr(config, section)):
                key = f"{section}.{f.name}"
                if key in HANDLED_ELSEWHERE or key in NOT_IN_STUDIO:
                    continue
                value = getattr(getattr(config, section), f.name)
                children.append(parameter_spec(section, f.name, value))
            groups.append(
                {
                    "name": section,
                    "title": SECTION_TITLES[section],
                    "type": "group",
                    "children": children,
                    "expanded": section in ("objective", "sampler", "view"),
                }
            )
        groups.append(self._sample_group(controller.sample_options))
        self.root = Parameter.create(name="settings", type="group", children=groups)
        for section in SECTIONS:
            for child in self.root.child(section).children():
                key = f"{section}.{child.name()}"
                self.params[key] = child
                child.sigValueChanged.connect(self._on_value_changed)
        self.sample = self.root.child("sample")
        for child in self.sample.children():
            if child.name() == "restart":
                child.sigActivated.connect(self._on_restart_clicked)
            else:
                child.sigValueChanged.connect(self._on_sample_option_changed)

        self.tree = ParameterTree(showHeader=False)
        forget_root_item_with(self.tree)
        self.tree.setParameters(self.root, showTop=False)
        self.tree.setColumnWidth(0, 200)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)

        self._update_visibility(config)
        controller.config_changed.connect(self._on_config_changed)
        controller.config_edited.connect(self._on_config_edited)
        controller.pending_changed.connect(self._on_pending_changed)
        controller.sample_mode_changed.connect(self._on_sample_mode_changed)

    @staticmethod
    def _sample_group(o: SampleOptions) -> dict:
        return {
            "name": "sample",
            "title": "sample mode (model frozen)",
            "type": "group",
            "expanded": False,
            "children": [
                {"name": "enabled", "title": "sample instead of train", "type": "bool",
                 "value": False, "tip": "Freeze the model and watch fresh chains mix."},
                {"name": "n_chains", "title": "chains", "type": "int", "value": o.n_chains,
                 "limits": (1, 100_000)},
                {"name": "start", "title": "start from", "type": "list",
                 "limits": ["noise", "data", "buffer"], "value": o.start},
                {"name": "kind", "title": "sampler", "type": "list", "limits": list(SAMPLERS),
                 "value": o.kind},
                {"name": "step_size", "title": "step size eta", "type": "float",
                 "value": o.step_size, "limits": (1e-6, 10.0), "dec": True, "step": 0.1,
                 "minStep": 1e-6, "decimals": 4},
                {"name": "temperature", "title": "temperature T", "type": "float",
                 "value": o.temperature, "limits": (1e-3, 100.0), "dec": True, "step": 0.1,
                 "minStep": 1e-3, "decimals": 4},
                {"name": "noise", "title": "noise sigma (0: coupled)", "type": "float",
                 "value": o.noise, "limits": (0.0, 10.0), "step": 0.005, "decimals": 4,
                 "tip": "0: sigma = sqrt(2 eta T); above 0: decoupled Langevin noise"},
                {"name": "steps", "title": "sampler steps per frame", "type": "int",
                 "value": o.steps, "limits": (1, 1000)},
                {"name": "restart", "title": "restart chains", "type": "action"},
            ],
        }  # fmt: skip

    def param(self, key: str) -> Parameter:
        """The tree parameter of ``section.key`` (or ``sample.name``)."""
        if key.startswith("sample."):
            return self.sample.child(key.split(".", 1)[1])
        return self.params[key]

    # ------------------------------------------------------------------ edits
    def _on_value_changed(self, param: Parameter, value: object) -> None:
        key = f"{param.parent().name()}.{param.name()}"
        if not self.controller.set_value(key, value):
            section, name = key.split(".", 1)
            current = getattr(getattr(self.controller.config, section), name)
            param.setValue(current, blockSignal=self._on_value_changed)

    def _on_sample_option_changed(self, param: Parameter, value: object) -> None:
        if param.name() == "enabled":
            self.controller.set_sample_mode(bool(value))
            return
        values = {c.name(): c.value() for c in self.sample.children() if c.name() != "restart"}
        values.pop("enabled")
        self.controller.set_sample_options(SampleOptions(**values))

    def _on_restart_clicked(self) -> None:
        self.controller.restart_sampling()

    # ------------------------------------------------------------------ controller -> tree
    def _on_config_changed(self, config: Config) -> None:
        for key, param in self.params.items():
            section, name = key.split(".", 1)
            param.setValue(
                getattr(getattr(config, section), name), blockSignal=self._on_value_changed
            )
        self._update_visibility(config)

    def _on_config_edited(self, key: str, config: Config) -> None:
        if key.startswith(("objective.", "sampler.")):
            self._update_visibility(config)

    def _update_visibility(self, config: Config) -> None:
        for param in self.root.child("objective").children():
            param.setOpts(visible=objective_field_visible(param.name(), config))
        for param in self.root.child("sampler").children():
            param.setOpts(visible=sampler_field_visible(param.name(), config))

    def _on_pending_changed(self, keys: list[str]) -> None:
        pending = set(keys)
        for key, param in self.params.items():
            if field_meta(*key.split(".", 1))["live"]:
                continue
            for item in param.items:
                font = QFont(item.font(0))
                font.setBold(key in pending)
                item.setFont(0, font)
                item.setForeground(0, QBrush(PENDING_COLOUR) if key in pending else QBrush())

    def _on_sample_mode_changed(self, on: bool) -> None:
        self.sample.child("enabled").setValue(on, blockSignal=self._on_sample_option_changed)


__all__ = ["ControlsPanel", "parameter_spec"]
