"""Commands from the GUI to the worker thread: small frozen objects, nothing else crosses.

The worker drains its queue between two optimizer steps. Each ``UpdateConfig`` carries a whole
``Config`` (not a delta), so of several consecutive ones only the last matters; every other
command is discrete and always executes, in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.config import Config, SamplerConfig


@dataclass(frozen=True)
class UpdateConfig:
    """Apply the live settings of ``config`` (the base of every arm) now; structural ones wait
    for a ``Reset``."""

    config: Config


@dataclass(frozen=True, eq=False)
class Reset:
    """Rebuild the runs from ``config`` (None: the pending or current one). ``points`` are the
    user's own data (drawn or from a CSV) for ``data.name`` "drawn"/"csv"; None keeps the
    points the worker already has. ``arms``: each arm's ``section.key=value`` overrides of
    ``config`` (one arm with none in the main window, two in compare mode); None keeps the
    arms the worker has."""

    config: Config | None = None
    points: np.ndarray | None = None
    arms: tuple[tuple[tuple[str, Any], ...], ...] | None = None


@dataclass(frozen=True)
class StepOnce:
    """One optimizer step of each arm (or one sampler step in sample mode), then a frame."""


@dataclass(frozen=True)
class TrainSteps:
    """Train exactly ``n`` more steps, then pause."""

    n: int


@dataclass(frozen=True)
class SetPlaying:
    playing: bool


@dataclass(frozen=True)
class SetStepsPerFrame:
    """0: train as fast as possible and drop frames; n > 0: exactly n steps per drawn frame
    (slow motion: the worker waits for each frame to be drawn)."""

    n: int


@dataclass(frozen=True)
class SampleMode:
    """Freeze the model and run ``n_chains`` chains from ``start`` ("noise" or "data") with
    ``sampler``; ``steps`` sampler steps per iteration. Sent again with ``enabled`` still True,
    it updates the sampler in place (the chains continue) unless the chain count or start
    changed or ``restart`` is set."""

    enabled: bool
    n_chains: int = 1000
    start: str = "noise"
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    steps: int = 1
    restart: bool = False


@dataclass(frozen=True)
class MoveDevice:
    """Rebuild the run on ``device`` and carry the whole state over (weights, optimizer,
    chains, history)."""

    device: str


@dataclass(frozen=True)
class Save:
    """Write a checkpoint of the current state to ``path`` (a worker of one arm only)."""

    path: str


@dataclass(frozen=True)
class Load:
    """Replace the runs with the one in the checkpoint at ``path``."""

    path: str


@dataclass(frozen=True)
class LoadArms:
    """Replace the runs with one arm per checkpoint in ``paths`` (compare mode: A and B), each
    restored whole and continued in lock-step; they must share data and seed
    (``core/arm_checkpoints.py``). A refused set leaves the runs as they were."""

    paths: tuple[str, ...]


@dataclass(frozen=True)
class Stop:
    """Leave the worker loop (the thread then finishes)."""


Command = (
    UpdateConfig
    | Reset
    | StepOnce
    | TrainSteps
    | SetPlaying
    | SetStepsPerFrame
    | SampleMode
    | MoveDevice
    | Save
    | Load
    | LoadArms
    | Stop
)


def coalesce(commands: Iterable[Command]) -> list[Command]:
    """Collapse each run of consecutive ``UpdateConfig`` to its last one; keep everything else.

    A discrete command is a barrier: it executes with the settings that were current when it
    was sent (U1 StepOnce U2 keeps all three; U1 U2 U3 StepOnce keeps U3 StepOnce).
    """
    out: list[Command] = []
    for cmd in commands:
        if isinstance(cmd, UpdateConfig) and out and isinstance(out[-1], UpdateConfig):
            out[-1] = cmd
        else:
            out.append(cmd)
    return out


__all__ = [
    "Command",
    "UpdateConfig",
    "Reset",
    "StepOnce",
    "TrainSteps",
    "SetPlaying",
    "SetStepsPerFrame",
    "SampleMode",
    "MoveDevice",
    "Save",
    "Load",
    "LoadArms",
    "Stop",
    "coalesce",
]
