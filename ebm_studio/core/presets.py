"""TOML presets: load, validate, save.

A preset has the config sections ``[data] [model] [objective] [sampler] [buffer] [optim]
[train] [view]`` and an optional ``[preset]`` table describing it::

    [preset]
    description = "one line shown by `ebm-studio presets`"
    explanation = "what to watch for, which source section"
    hint = "what to do next"
    [guide]                # experiment presets: claim, citation, steps (core/guide.py)
    [preset.kl_bound]      # the documented fit: KL(p_data || p_theta) reached, per dataset
    8gaussians = 0.1

Unknown keys and out-of-range values are errors naming the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .atomic import atomic_write_text
from .config import SECTIONS, Config, ConfigError
from .guide import Guide, guide_to_dict, parse_guide

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
_PRESET_KEYS = {"description": str, "explanation": str, "hint": str, "kl_bound": dict}


@dataclass(frozen=True)
class Preset:
    name: str
    config: Config
    description: str = ""
    explanation: str = ""
    hint: str = ""
    kl_bound: dict[str, float] = field(default_factory=dict)
    guide: Guide | None = None  # experiment presets: the Guide dock's content


def list_presets() -> list[Preset]:
    """Shipped presets, sorted by name."""
    return [load_preset(p) for p in sorted(PRESET_DIR.glob("*.toml"))]


def resolve(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    shipped = PRESET_DIR / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    names = ", ".join(sorted(q.stem for q in PRESET_DIR.glob("*.toml")))
    raise ConfigError(f"no preset named '{name_or_path}'; shipped presets: {names}")


def load_preset(name_or_path: str | os.PathLike) -> Preset:
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path.name}: cannot be read ({e})") from None
    return parse_preset(text, source=path.name, name=path.stem)


def parse_preset(text: str, *, source: str = "preset", name: str = "preset") -> Preset:
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    meta = d.pop("preset", {})
    guide = d.pop("guide", None)
    if not isinstance(meta, dict):
        raise ConfigError(f"{source}: [preset] must be a table")
    for k, v in meta.items():
        if k not in _PRESET_KEYS:
            raise ConfigError(
                f"{source}: unknown key 'preset.{k}'; allowed keys in [preset]: "
                + ", ".join(_PRESET_KEYS)
            )
        if not isinstance(v, _PRESET_KEYS[k]):
            raise ConfigError(f"{source}: preset.{k} must be a {_PRESET_KEYS[k].__name__}")
    bounds = meta.get("kl_bound", {})
    for k, v in bounds.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{source}: preset.kl_bound.{k} must be a number")
    config = Config.from_dict(d, source=source)
    return Preset(
        guide=None if guide is None else parse_guide(guide, source, config),
        name=name,
        config=config,
        description=meta.get("description", ""),
        explanation=meta.get("explanation", ""),
        hint=meta.get("hint", ""),
        kl_bound={k: float(v) for k, v in bounds.items()},
    )


def preset_to_toml(preset: Preset) -> str:
    d: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for k in ("description", "explanation", "hint"):
        if getattr(preset, k):
            meta[k] = getattr(preset, k)
    if preset.kl_bound:
        meta["kl_bound"] = dict(preset.kl_bound)
    if meta:
        d["preset"] = meta
    if preset.guide is not None:
        d["guide"] = guide_to_dict(preset.guide)
    d.update(preset.config.to_dict())
    return tomli_w.dumps(d)


def config_to_toml(config: Config) -> str:
    return tomli_w.dumps({name: sec for name, sec in config.to_dict().items()})


def save_preset(preset: Preset | Config, path: str | os.PathLike) -> None:
    """Write a preset (or a bare config) as TOML, atomically."""
    if isinstance(preset, Config):
        preset = Preset(name=Path(path).stem, config=preset)
    atomic_write_text(path, preset_to_toml(preset))


__all__ = [
    "Preset",
    "list_presets",
    "load_preset",
    "parse_preset",
    "save_preset",
    "config_to_toml",
    "SECTIONS",
]
