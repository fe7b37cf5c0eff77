"""N runs on the same data and seed, stepped in lock-step. No threads, no Qt.

Every arm is one base config with its own ``section.key=value`` overrides (anything but the data
and the seed): the main window runs one arm with none, compare mode two. All arms are built from
the same ``data`` section, seed and points, so they train on identical tensors and start from
identical weights wherever their model sections agree: any difference in what they learn comes
from the overrides. Two arms with the same overrides are bitwise identical step for step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import SECTIONS, Config, ConfigError, changed_keys, field_meta
from .frames import Frame, Rollback
from .overrides import apply_assignments, format_assignments, parse_assignments
from .trainer import Diverged, Trainer

Overrides = tuple[tuple[str, Any], ...]
NO_OVERRIDES: tuple[Overrides, ...] = ((),)


def arm_name(i: int) -> str:
    """ "A", "B", ... "Z", then "27", "28", ... (a sweep may have more arms than letters)."""
    return chr(ord("A") + i) if i < 26 else str(i + 1)


def is_shared_key(key: str) -> bool:
    """Settings every arm must share: the data (every ``data.*`` key) and the seed."""
    return key.startswith("data.") or key == "train.seed"


def as_overrides(overrides: str | Iterable[tuple[str, Any]]) -> Overrides:
    """``"objective.name=nce, ..."`` or (key, value) pairs as a tuple of pairs (form only)."""
    return parse_assignments(overrides) if isinstance(overrides, str) else tuple(overrides)


def arm_config(config: Config, overrides: str | Iterable[tuple[str, Any]], arm: str) -> Config:
    """The base ``config`` with one arm's ``overrides`` applied and validated.

    Raises ConfigError in one sentence starting with "arm <name>" for a malformed item, an
    unknown key, a value out of range, or a shared key (data, seed)."""
    try:
        pairs = as_overrides(overrides)
        for key, _ in pairs:
            if is_shared_key(key):
                raise ConfigError(
                    f"'{key}' cannot differ: both arms train on the same data and seed "
                    "(data.* and train.seed are shared)"
                )
        return apply_assignments(config, pairs)
    except ConfigError as e:
        raise ConfigError(f"arm {arm}: {str(e).removeprefix('config: ')}") from None


def arm_configs(config: Config, arms: Sequence[str | Iterable[tuple[str, Any]]]) -> list[Config]:
    """Every arm's config (validated in arm order; the first bad one raises ConfigError)."""
    return [arm_config(config, ov, arm_name(i)) for i, ov in enumerate(arms)]


def describe_differences(*configs: Config) -> tuple[str, ...]:
    """Each arm's settings where the arms differ (``objective.name=mcmc`` /
    ``objective.name=nce``): what the views' titles and the curves' legend show."""
    first = configs[0]
    keys: set[str] = set()
    for other in configs[1:]:
        keys.update(k for k, _, _ in changed_keys(first, other))
    if not keys:
        return ("identical settings",) * len(configs)
    ordered = [k for k in ALL_KEYS if k in keys]  # section order, then field order
    return tuple(format_assignments((k, _value(c, k)) for k in ordered) for c in configs)


ALL_KEYS = tuple(
    f"{section}.{f.name}" for section, klass in SECTIONS.items() for f in dataclasses.fields(klass)
)


def _value(config: Config, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)


class ArmDiverged(RuntimeError):
    """One arm diverged; it rolled back, and so did the others where they could."""

    def __init__(self, arm: str, cause: Diverged, in_step: bool, n_arms: int) -> None:
        self.arm, self.cause, self.in_step = arm, cause, in_step
        if n_arms == 1:
            super().__init__(str(cause))
            return
        every = "both arms are" if n_arms == 2 else "every arm is"
        tail = (
            f"{every} back at step {cause.rolled_back_to}."
            if in_step
            else "the arms are now out of step; press Reset to start them again."
        )
        super().__init__(f"Arm {arm}: {cause} Lock-step: {tail}")


@dataclass(frozen=True)
class RunConfigs:
    """What a group was built from: the base config and each arm's overrides and config."""

    base: Config
    overrides: tuple[Overrides, ...]
    arms: tuple[Config, ...]

    @property
    def titles(self) -> tuple[str, ...]:
        return describe_differences(*self.arms)


class RunGroup:
    """``Trainer``s on the same data and seed, advanced by the same number of steps."""

    def __init__(
        self,
        config: Config,
        arms: Sequence[str | Iterable[tuple[str, Any]]] = NO_OVERRIDES,
        points: np.ndarray | None = None,
        *,
        trainers: Sequence[Trainer] | None = None,
    ) -> None:
        """Arm i is ``config`` with ``arms[i]`` applied. Everything is validated before a
        trainer is built. ``trainers``: adopt these (already built for those configs)."""
        configs = arm_configs(config, arms)
        self.config = config
        self.overrides: tuple[Overrides, ...] = tuple(as_overrides(ov) for ov in arms)
        self.points = points
        self.pending: Config | None = None  # a base edit that waits for a reset
        if trainers is None:
            trainers = [Trainer(c, points=points) for c in configs]
        self.trainers: tuple[Trainer, ...] = tuple(trainers)
        self.names = tuple(arm_name(i) for i in range(len(self.trainers)))

    # ------------------------------------------------------------------------ state
    @property
    def step_count(self) -> int:
        return self.trainers[0].step_count

    @property
    def in_step(self) -> bool:
        return all(t.step_count == self.step_count for t in self.trainers)

    def configs(self) -> RunConfigs:
        return RunConfigs(self.config, self.overrides, tuple(t.config for t in self.trainers))

    @property
    def titles(self) -> tuple[str, ...]:
        return describe_differences(*(t.config for t in self.trainers))

    # ------------------------------------------------------------------------ settings
    def apply_config(self, config: Config) -> None:
        """A new base config: live settings reach every arm now (each keeps its overrides);
        structural ones wait in ``pending`` for a rebuild."""
        configs = arm_configs(config, self.overrides)
        for t, c in zip(self.trainers, configs):
            t.apply_config(c)
        live = self.config
        for key, _, value in changed_keys(self.config, config):
            if field_meta(*key.split(".", 1))["live"]:
                live = live.with_value(key, value)
        self.config = live
        self.pending = config if any(t.pending is not None for t in self.trainers) else None

    # ------------------------------------------------------------------------ training
    def step(self, n: int = 1) -> tuple[dict[str, float], ...]:
        """``n`` optimizer steps of each arm, in arm order. Returns the last rows.

        Raises ``ArmDiverged`` if an arm diverges; see ``_realign``."""
        rows: tuple[dict[str, float], ...] = tuple({} for _ in self.trainers)
        for _ in range(n):
            rows = tuple(self._step_arm(i) for i in range(len(self.trainers)))
        return rows

    def _step_arm(self, i: int) -> dict[str, float]:
        try:
            return self.trainers[i].step()
        except Diverged as d:
            aligned = all(self._realign(j, i, d.rolled_back_to) for j in self._others(i))
            raise ArmDiverged(self.names[i], d, aligned, len(self.trainers)) from None

    def _others(self, i: int) -> list[int]:
        return [j for j in range(len(self.trainers)) if j != i]

    def _realign(self, j: int, diverged: int, step: int) -> bool:
        """Arm ``diverged`` rolled back to its last good state at ``step``; put arm ``j``
        back to its own good state if that is the same step (the arms keep one every
        ``train.guard_every`` steps, so it is unless an arm overrides that key)."""
        t = self.trainers[j]
        if t.step_count == step:
            return True
        if t.good_step != step:
            return False
        t.rollback()
        t.events.append(Rollback(step, with_arm=self.names[diverged]))
        return True

    @property
    def stop_requested(self) -> bool:
        """Every arm has reached its ``train.stop_at_kl`` (see ``Trainer.stop_requested``)."""
        return all(t.stop_requested for t in self.trainers)

    def stop_message(self) -> str:
        """The status line for a run stopped by ``train.stop_at_kl``."""
        parts = [
            f"KL {t.history[-1].get('kl', float('nan')):.4f}" if t.history else "KL ?"
            for t in self.trainers
        ]
        bound = ", ".join(f"{t.config.train.stop_at_kl:g}" for t in self.trainers)
        return (
            f"Stopped at step {self.step_count}: {', '.join(parts)} reached "
            f"train.stop_at_kl = {bound} nats. Press Play to continue training."
        )

    def train(self, steps: int, callback: Callable[[RunGroup], object] | None = None) -> None:
        """``steps`` lock-step steps, fewer when every arm reached ``train.stop_at_kl``;
        ``callback(group)`` after each (a progress bar)."""
        for _ in range(steps):
            self.step()
            if callback is not None:
                callback(self)
            if self.stop_requested:
                return

    # ------------------------------------------------------------------------ output
    def snapshot(
        self, res: int | None = None, max_chains: int = 100_000, grid: bool = True
    ) -> Frame:
        """Every arm's snapshot (each at its own view resolution unless ``res`` is given)."""
        snaps = tuple(
            t.snapshot(res=res or t.config.view.resolution, max_chains=max_chains, grid=grid)
            for t in self.trainers
        )
        return Frame(step=self.step_count, arms=snaps)

    def final_metrics(self) -> tuple[dict[str, float], ...]:
        """Exact grid metrics of every arm now (``Trainer.evaluate``), plus the step."""
        return tuple({"step": float(t.step_count), **t.evaluate()} for t in self.trainers)

    # ------------------------------------------------------------------------ devices
    def moved(self, device: str) -> RunGroup:
        """The same group on ``device``, with every arm's whole state carried over (weights,
        optimizer, chains, history, events) and its pending edits kept."""
        trainers = []
        for t in self.trainers:
            tensors, meta = t.state_dict()
            new = Trainer(_on(t.config, device), points=self.points, pretrain=False)
            new.load_state_dict(tensors, meta)
            if t.pending is not None:
                new.pending = _on(t.pending, device)
            trainers.append(new)
        group = RunGroup(_on(self.config, device), self.overrides, self.points, trainers=trainers)
        group.pending = None if self.pending is None else _on(self.pending, device)
        return group


def _on(config: Config, device: str) -> Config:
    return dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))


__all__ = [
    "ArmDiverged",
    "NO_OVERRIDES",
    "Overrides",
    "RunConfigs",
    "RunGroup",
    "arm_config",
    "arm_configs",
    "arm_name",
    "as_overrides",
    "describe_differences",
    "is_shared_key",
]
