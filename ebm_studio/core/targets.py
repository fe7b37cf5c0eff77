"""What a file or text handed to the studio is: the command line's ``ebm-studio gui TARGET``
and a file dropped on the window both go through ``classify``.

A CSV is data, an image is a density, a ``.safetensors`` file is a checkpoint, a ``.toml``
file is a preset and a text starting with ``ebm1:`` is a share string. Anything else is
refused with one sentence naming it and the kinds accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError
from .share import PREFIX

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm")
KINDS = {
    ".safetensors": "checkpoint",
    ".toml": "preset",
    **{s: "data" for s in CSV_SUFFIXES},
    **{s: "image" for s in IMAGE_SUFFIXES},
}
ACCEPTED = (
    "a CSV of points (.csv, .txt), an image (.png, .jpg, ...), a checkpoint (.safetensors), "
    f"a preset (.toml) or a share string ({PREFIX}...)"
)


@dataclass(frozen=True)
class Target:
    kind: str  # "checkpoint", "preset", "data", "image" or "share"
    value: str  # the path, or the share string's text


def classify(text: str | Path, *, must_exist: bool = True) -> Target:
    """The kind of ``text`` (a path or a share string); raises ConfigError with one sentence
    for an unknown type or, when ``must_exist``, a file that is missing or unreadable."""
    s = str(text).strip()
    if s.startswith(PREFIX):
        return Target("share", s)
    path = Path(s)
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{path.name or s}: not a file EBM Studio opens; it opens {ACCEPTED}")
    if must_exist:
        if not path.is_file():
            raise ConfigError(f"{s}: no such file")
        try:
            with path.open("rb") as f:
                f.read(1)
        except OSError as e:
            raise ConfigError(f"{s}: cannot be read ({e.strerror or e})") from None
    return Target(kind, str(path))


__all__ = ["ACCEPTED", "Target", "classify"]
