"""What a run hands to whoever draws it: typed snapshots, frames and events. No Qt, no torch.

A ``Snapshot`` is one run's state at one step, as immutable numpy copies; a ``Frame`` is the
snapshots of every run the worker steps in lock-step (one in the main window, two in compare
mode, many in a sweep) with the worker's ``FrameInfo``. Events (``ConfigChange``,
``Rollback``, ``Note``) mark the curves; checkpoints store them as JSON (``event_to_json``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import field_meta
from .history import History

# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ConfigChange:
    """A live setting changed at ``step`` (applied before that step ran)."""

    step: int
    key: str  # "section.name"
    old: Any
    new: Any

    @property
    def label(self) -> str:
        """``step size eta 0.01 -> 0.2``: the setting's help text, old and new value."""
        return f"{setting_label(self.key)} {_fmt(self.old)} -> {_fmt(self.new)}"


@dataclass(frozen=True)
class Rollback:
    """The run went back to its last good state at ``step``: it diverged at ``failed_at``,
    or (``with_arm``) it followed another arm of a lock-step group that diverged."""

    step: int
    failed_at: int | None = None
    with_arm: str | None = None

    @property
    def label(self) -> str:
        if self.failed_at is not None:
            return f"diverged at {self.failed_at}: rolled back"
        return f"rolled back with arm {self.with_arm}"


@dataclass(frozen=True)
class Note:
    """A text marker: what checkpoints written before typed events hold ([step, text])."""

    step: int
    text: str

    @property
    def label(self) -> str:
        return self.text


Event = ConfigChange | Rollback | Note
_SCALARS = (bool, int, float, str)


def setting_label(key: str) -> str:
    """The help text of ``section.name`` (the key itself for an unknown one)."""
    section, _, name = key.partition(".")
    try:
        return field_meta(section, name)["help"] or key
    except KeyError:
        return key


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def event_to_json(event: Event) -> dict[str, Any]:
    """A JSON-able dict with a ``type`` field (checkpoint metadata)."""
    if isinstance(event, ConfigChange):
        return {
            "type": "config",
            "step": event.step,
            "key": event.key,
            "old": event.old,
            "new": event.new,
        }
    if isinstance(event, Rollback):
        return {
            "type": "rollback",
            "step": event.step,
            "failed_at": event.failed_at,
            "with_arm": event.with_arm,
        }
    return {"type": "note", "step": event.step, "text": event.text}


def event_from_json(obj: Any) -> Event:
    """The inverse of ``event_to_json``; also reads the ``[step, "text"]`` pairs of older
    checkpoints (as ``Note``). Raises ValueError for anything else."""
    if isinstance(obj, list | tuple) and len(obj) == 2:
        return Note(_step(obj[0]), _text(obj[1]))
    if not isinstance(obj, dict):
        raise ValueError(f"an event must be an object or a [step, text] pair, not {obj!r}")
    kind = obj.get("type")
    if kind == "config":
        return ConfigChange(
            _step(obj.get("step")),
            _text(obj.get("key")),
            _scalar(obj.get("old")),
            _scalar(obj.get("new")),
        )
    if kind == "rollback":
        failed, arm = obj.get("failed_at"), obj.get("with_arm")
        return Rollback(
            _step(obj.get("step")),
            None if failed is None else _step(failed),
            None if arm is None else _text(arm),
        )
    if kind == "note":
        return Note(_step(obj.get("step")), _text(obj.get("text")))
    raise ValueError(f"unknown event type {kind!r}")


def events_from_json(items: Iterable[Any]) -> list[Event]:
    if not isinstance(items, list | tuple):
        raise ValueError("events must be a list")
    return [event_from_json(e) for e in items]


def _step(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"an event step must be a whole number >= 0, not {v!r}")
    return v


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a text in an event, not {v!r}")
    return v


def _scalar(v: Any) -> Any:
    if not isinstance(v, _SCALARS):
        raise ValueError(f"a setting's value must be a number, text or true/false, not {v!r}")
    return v


# ----------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class StaticLayers:
    """What changes only when a run is (re)built: shown data points and, for a dataset with an
    exact density, its log-density on a grid over the box (rows = y)."""

    data: np.ndarray  # (n, 2)
    true_log_p: np.ndarray | None = None  # (res, res)


@dataclass(frozen=True)
class HealthSample:
    """Energies of a few hundred points per frame for the chain-health panel: a fixed data
    sample, the first drawn chains, the first buffer entries (None where a run has none);
    with parallel tempering, the swap acceptance of each adjacent pair of the ladder."""

    data: np.ndarray
    chains: np.ndarray | None = None
    buffer: np.ndarray | None = None
    swap_rates: tuple[float, ...] | None = None

    def parts(self) -> dict[str, np.ndarray]:
        """The samples present, by name ("data", "chains", "buffer")."""
        named = {"data": self.data, "chains": self.chains, "buffer": self.buffer}
        return {k: v for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class ImageExtras:
    """Image mode: the energy on the data's principal plane with data, chains and buffer
    projected on it, and the classifier's class histogram of the chains. Computed by the
    worker at a bounded cadence, so most frames carry none."""

    plane_energy: np.ndarray  # (res, res), rows = pc2 from -extent to +extent
    extent: tuple[float, float]  # half-widths along pc1, pc2
    data_xy: np.ndarray  # (n, 2) projections
    chains_xy: np.ndarray | None
    buffer_xy: np.ndarray | None
    class_histogram: tuple[int, ...] | None = None  # None without a classifier (no labels)


@dataclass(frozen=True)
class SampleInfo:
    """Sample mode: chains of the frozen model, ``steps`` sampler steps so far."""

    steps: int
    mean_energy: float
    grad_norm: float
    acceptance: float | None = None  # MALA, random-walk MH, HMC and PT's MALA moves only
    swap_rates: tuple[float, ...] | None = None  # parallel tempering only


@dataclass(frozen=True)
class Snapshot:
    """Immutable numpy copies of what the views draw of one run. ``rows`` are the metric rows
    logged since the previous snapshot and ``events`` the markers, so dropping a frame never
    drops a curve point."""

    step: int
    box: float
    energy: np.ndarray | None  # (res, res), rows = y from -box to +box; None between grids
    log_z: float | None
    chains: np.ndarray | None  # (n, 2)
    trails: np.ndarray | None  # (n_trails, length, 2)
    buffer: np.ndarray | None
    buffer_age: np.ndarray | None
    rows: tuple[dict[str, float], ...] = ()
    events: tuple[Event, ...] = ()
    device: str = ""
    static: StaticLayers | None = None  # in the first frame of a run only
    health: HealthSample | None = None
    sample: SampleInfo | None = None  # in sample mode only
    # (n_trails, length) bool: trail point j was reached by an augmentation move (jump,
    # rotation, reflection) or a chain restart, so the segment from j - 1 is not a path.
    trail_jumps: np.ndarray | None = None
    # The run's history so far: a read-only view sharing the trainer's columns (no copy), for
    # the curves; ``rows`` repeats the newest rows as dicts for the views that want values.
    history: History | None = None
    image: ImageExtras | None = None  # image data sets only, every few frames


@dataclass(frozen=True)
class FrameInfo:
    """The worker's side of a frame: when it left, how fast the runs go, what they do."""

    mode: str  # "train" or "sample"
    emitted_at: float  # the worker's time.monotonic()
    steps_per_s: float  # per run; 0 while paused
    state: str  # "paused", "playing", "sampling", "training"
    progress: tuple[int, int] | None = None  # (done, total) of the last Train-N batch
    in_step: bool = True  # every run at the same step (a rollback can leave them apart)


@dataclass(frozen=True)
class Frame:
    """One frame of every run in a lock-step group, in arm order."""

    step: int
    arms: tuple[Snapshot, ...]
    info: FrameInfo | None = None  # set by the worker


__all__ = [
    "ConfigChange",
    "Event",
    "Frame",
    "FrameInfo",
    "HealthSample",
    "ImageExtras",
    "Note",
    "Rollback",
    "SampleInfo",
    "Snapshot",
    "StaticLayers",
    "event_from_json",
    "event_to_json",
    "events_from_json",
    "setting_label",
]
