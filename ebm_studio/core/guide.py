"""An experiment preset's guide: its claim, source, what to watch, steps and measurement.

The ``[guide]`` table of a preset TOML::

    [guide]
    claim = "what the experiment shows, in one or two sentences"
    citation = "Authors, title, year, section"
    watch = "what to look at while it runs"
    measure = "chain_modes"          # what the Guide dock measures after a step (MEASURES)
    expectation = "what the paper (or our measurement) says should be seen"
    sweeps = ["ebm-studio sweep exp-... --seeds 0-4 --out DIR"]   # optional: the claim over seeds

    [[guide.steps]]
    label = "Train 800 steps"
    action = "train"                 # one of ACTIONS
    settings = { steps = 800 }

Steps' settings are checked here, against the config's own validation where they name config
keys, so a bad guide fails when the preset loads, with a sentence naming the key. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Config, ConfigError

# train: {steps}; set: {"section.key": value, ...} (live settings of the run); reset: {};
# sample: sample-mode options (SAMPLE_KEYS), chains restart; stop_sampling: {}.
ACTIONS = ("train", "set", "reset", "sample", "stop_sampling")
SAMPLE_KEYS = {
    "n_chains": int,
    "start": str,
    "kind": str,
    "step_size": float,
    "temperature": float,
    "steps": int,
    "noise": float,
}
SAMPLE_STARTS = ("noise", "data")
MEASURES = ("kl", "log_z_error", "chain_modes", "mode_weights")
_TEXT_KEYS = ("claim", "citation", "watch", "expectation")


@dataclass(frozen=True)
class GuideStep:
    label: str
    action: str
    settings: tuple[tuple[str, Any], ...] = ()
    expect: str = ""  # what this step should show (else the guide's expectation)

    def settings_dict(self) -> dict[str, Any]:
        return dict(self.settings)


@dataclass(frozen=True)
class Guide:
    claim: str
    citation: str
    watch: str
    expectation: str
    measure: str
    steps: tuple[GuideStep, ...]
    # The sweep commands that measure the claim over seeds (docs/experiments.md quotes them).
    sweeps: tuple[str, ...] = ()


def parse_guide(d: Any, source: str, config: Config) -> Guide:
    """Validate a ``[guide]`` table (``config``: the preset's, for ``set`` steps)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: [guide] must be a table")
    allowed = (*_TEXT_KEYS, "measure", "steps", "sweeps")
    for k in d:
        if k not in allowed:
            raise ConfigError(
                f"{source}: unknown key 'guide.{k}'; allowed keys in [guide]: " + ", ".join(allowed)
            )
    texts = {}
    for k in _TEXT_KEYS:
        v = d.get(k)
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{source}: guide.{k} must be a non-empty text")
        texts[k] = v
    measure = d.get("measure", "kl")
    if measure not in MEASURES:
        raise ConfigError(
            f"{source}: guide.measure = {measure!r} is not allowed; expected one of: "
            + ", ".join(MEASURES)
        )
    raw = d.get("steps")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: guide.steps must be a non-empty list of [[guide.steps]]")
    steps = tuple(_parse_step(s, f"{source}: guide.steps[{i}]", config) for i, s in enumerate(raw))
    sweeps = d.get("sweeps", [])
    if not isinstance(sweeps, list) or not all(
        isinstance(c, str) and c.startswith("ebm-studio sweep ") for c in sweeps
    ):
        raise ConfigError(
            f"{source}: guide.sweeps must be a list of commands starting 'ebm-studio sweep '"
        )
    return Guide(measure=measure, steps=steps, sweeps=tuple(sweeps), **texts)


def _parse_step(s: Any, where: str, config: Config) -> GuideStep:
    if not isinstance(s, dict):
        raise ConfigError(f"{where} must be a table with label, action and settings")
    for k in s:
        if k not in ("label", "action", "settings", "expect"):
            raise ConfigError(
                f"{where}: unknown key '{k}'; allowed keys: label, action, settings, expect"
            )
    label, action = s.get("label"), s.get("action")
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}.label must be a non-empty text")
    if action not in ACTIONS:
        raise ConfigError(
            f"{where}.action = {action!r} is not allowed; expected one of: " + ", ".join(ACTIONS)
        )
    settings = s.get("settings", {})
    expect = s.get("expect", "")
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}.settings must be a table")
    if not isinstance(expect, str):
        raise ConfigError(f"{where}.expect must be a text")
    _check_settings(action, settings, f"{where}.settings", config)
    return GuideStep(label, action, tuple(settings.items()), expect)


def _check_settings(action: str, settings: dict, where: str, config: Config) -> None:
    if action == "train":
        n = settings.get("steps")
        if set(settings) != {"steps"} or isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"{where} of a train step must be {{ steps = N }} with N >= 1")
    elif action == "set":
        if not settings:
            raise ConfigError(f"{where} of a set step must name at least one section.key")
        cfg = config
        for key, value in settings.items():
            cfg = _with_value(cfg, key, value, where)
    elif action == "sample":
        for key, value in settings.items():
            typ = SAMPLE_KEYS.get(key)
            if typ is None:
                raise ConfigError(
                    f"{where}: unknown sample option '{key}'; allowed: " + ", ".join(SAMPLE_KEYS)
                )
            ok = isinstance(value, typ) or (typ is float and isinstance(value, int))
            if isinstance(value, bool) or not ok:
                raise ConfigError(f"{where}.{key} = {value!r} must be a {typ.__name__}")
        if settings.get("start", "noise") not in SAMPLE_STARTS:
            raise ConfigError(f"{where}.start must be one of: " + ", ".join(SAMPLE_STARTS))
        # The sampler fields go through the config's own validation (names key and range).
        for k in ("kind", "step_size", "temperature", "noise"):
            if k in settings:
                _with_value(config, f"sampler.{k}", settings[k], where)
    elif settings:
        raise ConfigError(f"{where}: a {action} step takes no settings")


def _with_value(config: Config, key: str, value: Any, where: str) -> Config:
    """``config.with_value`` with the error naming the guide's place, not "config"."""
    try:
        return config.with_value(key, value)
    except ConfigError as e:
        msg = str(e).removeprefix("config: ")
        raise ConfigError(f"{where}: {msg}") from None


def guide_to_dict(g: Guide) -> dict[str, Any]:
    """The ``[guide]`` table of ``g`` (for saving a preset)."""
    return {
        **{k: getattr(g, k) for k in _TEXT_KEYS},
        "measure": g.measure,
        **({"sweeps": list(g.sweeps)} if g.sweeps else {}),
        "steps": [
            {"label": s.label, "action": s.action, "settings": s.settings_dict()}
            | ({"expect": s.expect} if s.expect else {})
            for s in g.steps
        ],
    }


# ----------------------------------------------------------------------------- measurements


def describe_chain_modes(shares: np.ndarray) -> str:
    """``top-2 modes hold 71% of chains; 4 of 8 modes keep at least 5%``."""
    top2 = float(np.sort(shares)[::-1][:2].sum())
    keep = int((shares >= 0.05).sum())
    return f"top-2 modes hold {top2:.0%} of chains; {keep} of {len(shares)} modes keep at least 5%"


def describe_weights(learned: np.ndarray, true: np.ndarray) -> str:
    """``learned mode masses 0.45 / 0.41 / 0.14 against true 0.60 / 0.30 / 0.10 (TV 0.18)``."""
    tv = 0.5 * float(np.abs(learned - true).sum())
    fmt = " / ".join
    return (
        f"learned mode masses {fmt(f'{v:.2f}' for v in learned)} against true "
        f"{fmt(f'{v:.2f}' for v in true)} (total variation {tv:.2f})"
    )


__all__ = [
    "ACTIONS",
    "Guide",
    "GuideStep",
    "MEASURES",
    "SAMPLE_KEYS",
    "describe_chain_modes",
    "describe_weights",
    "guide_to_dict",
    "parse_guide",
]
