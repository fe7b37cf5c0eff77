"""Compare mode: two runs on the same data and seed, stepped in lock-step. No threads, no Qt.

Arm A is a config; arm B is A with a few ``section.key=value`` overrides (a different
objective, step size, anything but the data and the seed). Both trainers are built from the same
``data`` section, seed and points, so they train on identical tensors and start from identical
weights wherever their model sections agree: any difference in what they learn comes from the
overrides. With no overrides the two arms are bitwise identical step for step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import Config, ConfigError, changed_keys
from .overrides import apply_assignments, format_assignments, parse_assignments
from .trainer import Diverged, Snapshot, Trainer

ARMS = ("A", "B")


def is_shared_key(key: str) -> bool:
    """Settings both arms must share: the data (every ``data.*`` key) and the seed."""
    return key.startswith("data.") or key == "train.seed"


def arm_b_config(config: Config, overrides: str | Iterable[tuple[str, Any]]) -> Config:
    """Arm A's ``config`` with arm B's ``overrides`` applied and validated.

    Raises ConfigError in one sentence starting with "arm B" for a malformed item, an unknown
    key, a value out of range, or a shared key (data, seed)."""
    try:
        pairs = parse_assignments(overrides) if isinstance(overrides, str) else tuple(overrides)
        for key, _ in pairs:
            if is_shared_key(key):
                raise ConfigError(
                    f"'{key}' cannot differ: both arms train on the same data and seed "
                    "(data.* and train.seed are shared)"
                )
        return apply_assignments(config, pairs)
    except ConfigError as e:
        raise ConfigError(f"arm B: {str(e).removeprefix('config: ')}") from None


def describe_differences(a: Config, b: Config) -> tuple[str, str]:
    """Each arm's settings that differ from the other's (``objective.name=mcmc`` /
    ``objective.name=nce``): what the views' titles and the curves' legend show."""
    diff = changed_keys(a, b)
    if not diff:
        return "identical settings", "identical settings"
    return (
        format_assignments((k, va) for k, va, _ in diff),
        format_assignments((k, vb) for k, _, vb in diff),
    )


class ArmDiverged(RuntimeError):
    """One arm diverged; it rolled back, and so did the other where it could (lock-step)."""

    def __init__(self, arm: str, cause: Diverged, in_step: bool) -> None:
        self.arm, self.cause, self.in_step = arm, cause, in_step
        tail = (
            f"both arms are back at step {cause.rolled_back_to}."
            if in_step
            else "the arms are now out of step; press Reset to start both again."
        )
        super().__init__(f"Arm {arm}: {cause} Compare mode: {tail}")


@dataclass(frozen=True)
class CompareFrame:
    """One frame of both arms (each ``Snapshot`` carries its own unsent metric rows)."""

    step: int
    a: Snapshot
    b: Snapshot
    extra: dict[str, Any] = field(default_factory=dict)


class CompareRun:
    """Two ``Trainer``s on the same data and seed, advanced by the same number of steps."""

    def __init__(
        self,
        config: Config,
        overrides: str | Iterable[tuple[str, Any]] = (),
        points: np.ndarray | None = None,
    ) -> None:
        config_b = arm_b_config(config, overrides)  # validated before anything is built
        pairs = parse_assignments(overrides) if isinstance(overrides, str) else tuple(overrides)
        self.overrides: tuple[tuple[str, Any], ...] = pairs
        self.a = Trainer(config, points=points)
        self.b = Trainer(config_b, points=points)
        self.titles = describe_differences(config, config_b)

    @property
    def arms(self) -> tuple[Trainer, Trainer]:
        return self.a, self.b

    @property
    def step_count(self) -> int:
        return self.a.step_count

    @property
    def in_step(self) -> bool:
        return self.a.step_count == self.b.step_count

    def step(self, n: int = 1) -> tuple[dict[str, float], dict[str, float]]:
        """``n`` optimizer steps of each arm, alternating A, B. Returns the last rows.

        Raises ``ArmDiverged`` if an arm diverges; see ``_realign``."""
        rows: tuple[dict[str, float], dict[str, float]] = ({}, {})
        for _ in range(n):
            rows = (self._step_arm(0), self._step_arm(1))
        return rows

    def _step_arm(self, i: int) -> dict[str, float]:
        try:
            return self.arms[i].step()
        except Diverged as d:
            raise ArmDiverged(ARMS[i], d, self._realign(1 - i, d.rolled_back_to)) from None

    def _realign(self, i: int, step: int) -> bool:
        """The diverged arm rolled back to its last good state at ``step``; put the other arm
        back to its own good state if that is the same step (the arms keep one every
        ``train.guard_every`` steps, so it is unless B overrides that key)."""
        t = self.arms[i]
        if t.step_count == step:
            return True
        if t.good_step != step:
            return False
        t.rollback()
        t.events.append((step, f"rolled back with arm {ARMS[1 - i]}"))
        return True

    def snapshot(
        self, res: int | None = None, max_chains: int = 100_000, grid: bool = True
    ) -> CompareFrame:
        """Both arms' snapshots (each at its own view resolution unless ``res`` is given)."""
        snaps = [
            t.snapshot(res=res or t.config.view.resolution, max_chains=max_chains, grid=grid)
            for t in self.arms
        ]
        return CompareFrame(step=self.step_count, a=snaps[0], b=snaps[1])

    def train(self, steps: int, callback=None) -> None:
        """``steps`` lock-step steps; ``callback(run)`` after each (a progress bar)."""
        for _ in range(steps):
            self.step()
            if callback is not None:
                callback(self)

    def final_metrics(self) -> tuple[dict[str, float], dict[str, float]]:
        """Exact grid metrics of both arms now (``Trainer.evaluate``), plus the step."""
        a, b = ({"step": float(t.step_count), **t.evaluate()} for t in self.arms)
        return a, b


__all__ = [
    "ARMS",
    "ArmDiverged",
    "CompareFrame",
    "CompareRun",
    "arm_b_config",
    "describe_differences",
    "is_shared_key",
]
