"""``section.key=value`` settings typed by a person: the CLI's ``--set``, compare mode's arm B.

Values are read as TOML scalars (``0.02``, ``true``, ``"a b"``); a bare word that is not TOML is
taken as a string (``nce``, ``silu``). Validation is ``Config.with_value``'s, so the limits and
the error messages are the ones presets get. Light on purpose: no torch, no Qt.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Iterable
from typing import Any

from .config import Config, ConfigError


def parse_value(text: str) -> Any:
    """A TOML scalar, or the text itself for a bare word such as ``buffer`` or ``silu``."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_assignments(text: str) -> list[str]:
    """``"objective.name=nce, sampler.step_size=0.02"`` -> one item per assignment (commas or
    spaces separate them; quotes keep a value with spaces together)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace += ","
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError as e:  # an unclosed quote
        raise ConfigError(f"cannot read {text!r}: {e}") from None


def parse_assignments(items: str | Iterable[str]) -> tuple[tuple[str, Any], ...]:
    """``section.key=value`` items (or one text holding several) as (key, value) pairs.

    Only the form is checked here; ``apply_assignments`` checks keys and values."""
    if isinstance(items, str):
        items = split_assignments(items)
    pairs = []
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{item!r} is not of the form section.key=value")
        pairs.append((key.strip(), parse_value(text.strip())))
    return tuple(pairs)


def apply_assignments(config: Config, pairs: Iterable[tuple[str, Any]]) -> Config:
    """``config`` with every pair applied, or ConfigError for the first bad one (a frozen
    config is never half-changed: the caller keeps the original on failure)."""
    for key, value in pairs:
        config = config.with_value(key, value)
    return config


def format_assignments(pairs: Iterable[tuple[str, Any]]) -> str:
    """The inverse of ``parse_assignments`` for display: ``objective.name=nce, ...``."""
    return ", ".join(f"{k}={_format_value(v)}" for k, v in pairs)


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str) and (not v or any(c in v for c in " ,'\"")):
        return repr(v)
    return str(v)


__all__ = [
    "parse_value",
    "split_assignments",
    "parse_assignments",
    "apply_assignments",
    "format_assignments",
]
