"""Compare mode: two runs on the same data and seed, stepped in lock-step. No threads, no Qt.

Arm A is a config; arm B is A with a few ``section.key=value`` overrides (a different
objective, step size, anything but the data and the seed). It is the two-arm case of
``RunGroup`` (see ``core/group.py``): with no overrides the two arms are bitwise identical step
for step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .config import Config
from .group import ArmDiverged, RunGroup, arm_config, describe_differences, is_shared_key
from .trainer import Trainer

ARMS = ("A", "B")


def arm_b_config(config: Config, overrides: str | Iterable[tuple[str, Any]]) -> Config:
    """Arm A's ``config`` with arm B's ``overrides`` applied and validated (ConfigError in one
    sentence starting with "arm B" otherwise)."""
    return arm_config(config, overrides, "B")


class CompareRun(RunGroup):
    """Two ``Trainer``s on the same data and seed, advanced by the same number of steps."""

    def __init__(
        self,
        config: Config,
        overrides: str | Iterable[tuple[str, Any]] = (),
        points: np.ndarray | None = None,
    ) -> None:
        super().__init__(config, ((), overrides), points)

    @property
    def a(self) -> Trainer:
        return self.trainers[0]

    @property
    def b(self) -> Trainer:
        return self.trainers[1]

    @property
    def arms(self) -> tuple[Trainer, ...]:
        return self.trainers


__all__ = [
    "ARMS",
    "ArmDiverged",
    "CompareRun",
    "arm_b_config",
    "describe_differences",
    "is_shared_key",
]
