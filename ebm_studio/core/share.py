"""Share strings: a compact text (config + seed) that reproduces a run, like a Playground URL.

Format: ``ebm1:`` + urlsafe base64 (no padding) of zlib-compressed JSON holding only the
settings that differ from the defaults. Decoding validates like a preset, so garbage is refused
with one sentence and never half-applied.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from .config import Config, ConfigError

PREFIX = "ebm1:"
MAX_LEN = 20_000


def encode(config: Config) -> str:
    default = Config().to_dict()
    diff = {
        sec: {k: v for k, v in vals.items() if default[sec][k] != v}
        for sec, vals in config.to_dict().items()
    }
    diff = {sec: vals for sec, vals in diff.items() if vals}
    raw = json.dumps(diff, separators=(",", ":"), sort_keys=True).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode(text: str) -> Config:
    """Parse a share string; raises ConfigError with one clear sentence."""
    s = text.strip()
    if not s.startswith(PREFIX):
        raise ConfigError(f"share string must start with '{PREFIX}'")
    if len(s) > MAX_LEN:
        raise ConfigError("share string is too long to be an EBM Studio configuration")
    body = s[len(PREFIX) :]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        d = json.loads(zlib.decompress(packed, bufsize=65536).decode())
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError):
        raise ConfigError("share string is damaged (it does not decode); copy it again") from None
    return Config.from_dict(d, source="share string")
