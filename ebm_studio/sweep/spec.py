"""What a sweep runs: the base config, the grids, the seeds, and the trials they make.

Everything typed by a person is checked here before anything starts: a bad key, value, grid,
seed range or search range is a ``SweepError`` naming it and what is allowed (exit code 2).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.config import Config, ConfigError, field_meta
from ..core.overrides import parse_value

MANIFEST = "sweep.json"
MANIFEST_VERSION = 1
MAX_TRIALS = 10_000


class SweepError(ConfigError):
    """A sweep or tune request that cannot run as typed (exit code 2, nothing started)."""


@dataclass(frozen=True)
class Trial:
    id: str
    overrides: tuple[tuple[str, Any], ...]  # the swept values, grid order
    seed: int

    def config(self, base: Config) -> Config:
        cfg = base
        for key, value in self.overrides:
            cfg = cfg.with_value(key, value)
        return cfg.with_value("train.seed", self.seed)

    def setting(self) -> str:
        """The swept values as one label (``sampler.step_size=0.01 objective.alpha=0.1``)."""
        return " ".join(f"{k}={format_value(v)}" for k, v in self.overrides) or "(base)"


def format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def parse_seeds(text: str) -> list[int]:
    """``0-4`` (inclusive), ``0,2,7`` or ``3``; every seed a non-negative integer."""
    seeds: list[int] = []
    bad = SweepError(
        f"--seeds {text!r} is not allowed; expected a range like 0-4, a list like 0,2,7 or one "
        "non-negative integer"
    )
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            if dash:
                a, b = int(lo), int(hi)
                if a > b:
                    raise bad
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise bad from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds) or max(seeds) >= 2**31:
        raise bad
    return seeds


def parse_range(key: str, text: str) -> tuple[str, float, float]:
    """``log:1e-4:1e-2``, ``lin:0:1`` or ``int:1:8`` -> (kind, lo, hi) with 0 < lo < hi for log
    and lo < hi always; both ends inside the key's allowed range."""
    kind, _, rest = text.partition(":")
    parts = rest.split(":")
    allowed = "log:LO:HI (0 < LO < HI), lin:LO:HI or int:LO:HI (LO < HI)"
    if kind not in ("log", "lin", "int") or len(parts) != 2:
        raise SweepError(f"{key}={text!r} is not a range; expected {allowed}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise SweepError(f"{key}={text!r} is not a range; expected {allowed}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi or (kind == "log" and lo <= 0):
        raise SweepError(f"{key}={text!r} is not a valid range; expected {allowed}")
    if kind == "int" and not (lo.is_integer() and hi.is_integer()):
        raise SweepError(f"{key}={text!r}: int ranges take integer ends")
    check_key(key)
    for end in (lo, hi):  # validated like a preset value: names the key and its limits
        check_value(key, int(end) if kind == "int" else end)
    return kind, lo, hi


def check_key(key: str) -> None:
    section, _, name = key.partition(".")
    try:
        field_meta(section, name)
    except KeyError:
        Config().with_value(key, None)  # raises ConfigError with the allowed keys
    if key == "train.seed":
        raise SweepError("train.seed is swept with --seeds, not --grid or --param")


def check_value(key: str, value: Any) -> None:
    try:
        Config().with_value(key, value)
    except ConfigError as e:
        raise SweepError(str(e).removeprefix("config: ")) from None


def parse_grid(item: str) -> tuple[str, list[Any]]:
    """``section.key=v1,v2,...`` (or ``section.key=log:LO:HI:N`` / ``lin:LO:HI:N`` for N points)."""
    key, eq, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not eq or not key:
        raise SweepError(f"--grid {item!r} is not of the form section.key=v1,v2,...")
    check_key(key)
    if text.startswith(("log:", "lin:")) and text.count(":") == 3:
        head, n = text.rsplit(":", 1)
        kind, lo, hi = parse_range(key, head)
        if not n.isdigit() or not 2 <= int(n) <= 1000:
            raise SweepError(
                f"--grid {item!r}: the number of points must be an integer in [2, 1000]"
            )
        k = int(n)
        if kind == "log":
            values = [lo * (hi / lo) ** (i / (k - 1)) for i in range(k)]
        else:
            values = [lo + (hi - lo) * i / (k - 1) for i in range(k)]
        values = [float(f"{v:.6g}") for v in values]
    else:
        values = [parse_value(v.strip()) for v in text.split(",") if v.strip()]
    if not values:
        raise SweepError(f"--grid {key}= is empty; give at least one value, e.g. {key}=v1,v2")
    if len(set(map(repr, values))) != len(values):
        raise SweepError(f"--grid {item!r} repeats a value; give each value once")
    for v in values:
        check_value(key, v)
    return key, values


@dataclass(frozen=True)
class SweepSpec:
    base: Config  # the preset with --set and --steps applied
    grids: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: tuple[int, ...]
    preset: str = ""

    def trials(self) -> list[Trial]:
        keys = [k for k, _ in self.grids]
        combos = itertools.product(*(vals for _, vals in self.grids))
        out = []
        for combo in combos:
            for seed in self.seeds:
                out.append(Trial(f"{len(out):04d}", tuple(zip(keys, combo)), seed))
        return out

    def manifest(self) -> dict[str, Any]:
        """What makes two sweeps the same: base config, grids, seeds (JSON, no pickle)."""
        body = {
            "base": self.base.to_dict(),
            "grids": [[k, list(v)] for k, v in self.grids],
            "seeds": list(self.seeds),
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        trials = [
            {"id": t.id, "overrides": [list(p) for p in t.overrides], "seed": t.seed}
            for t in self.trials()
        ]
        return {
            "format": "ebm-studio-sweep",
            "version": MANIFEST_VERSION,
            "preset": self.preset,
            "digest": digest,
            **body,
            "trials": trials,
        }


def build_spec(
    base: Config, grid_items: list[str], seeds: list[int], preset: str = ""
) -> SweepSpec:
    grids: list[tuple[str, tuple[Any, ...]]] = []
    for item in grid_items:
        key, values = parse_grid(item)
        if any(k == key for k, _ in grids):
            raise SweepError(f"--grid {key} is given twice; give all its values in one --grid")
        grids.append((key, tuple(values)))
    spec = SweepSpec(base, tuple(grids), tuple(seeds), preset)
    n = math.prod(len(v) for _, v in grids) * len(seeds)
    if n > MAX_TRIALS:
        raise SweepError(f"the sweep has {n} trials; at most {MAX_TRIALS} are allowed")
    # Every combination must be a valid config (a value can be valid alone and not together).
    for t in spec.trials():
        try:
            t.config(base)
        except ConfigError as e:
            raise SweepError(f"trial {t.setting()} seed {t.seed}: {e}") from None
    return spec


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest in ``out`` (JSON only), or None when there is none."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SweepError(f"{path}: cannot be read as a sweep manifest ({e})") from None
    if not isinstance(d, dict) or d.get("format") != "ebm-studio-sweep":
        raise SweepError(f"{path}: not an ebm-studio sweep manifest")
    return d


def check_out_dir(out: Path, spec: SweepSpec) -> bool:
    """True when ``out`` holds this same sweep (resume), False when it is new or empty.

    A folder holding a different sweep, or other files, is refused: nothing there is touched."""
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out}: is a file; give a folder for the sweep")
    found = read_manifest(out) if out.exists() else None
    if found is None:
        if out.exists() and any(out.iterdir()):
            raise SweepError(
                f"--out {out}: the folder is not empty and holds no sweep; "
                "give a new or empty folder"
            )
        return False
    mine = spec.manifest()
    if found.get("digest") != mine["digest"]:
        what = ", ".join(f"{k}={','.join(map(format_value, v))}" for k, v in found.get("grids", []))
        raise SweepError(
            f"--out {out}: holds a different sweep (grids {what or 'none'}, seeds "
            f"{found.get('seeds')}); rerun that sweep's command or give a new folder"
        )
    return True
