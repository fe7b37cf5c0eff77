"""Compare arms restored from checkpoints: one ``RunGroup`` whose arm i continues checkpoint i
(weights, optimizer, chains, generator, config, history and events). No threads, no Qt.

What compare requires: the arms of a group train on the same data and seed (``RunGroup``), so
the checkpoints must agree on every ``data.*`` setting and ``train.seed`` and hold the same
training and test points; everything else (objective, sampler, model shape, step count) may
differ. Arm A's config is the group's base and every other arm's differences to it are its
overrides, so Reset starts the same settings again from scratch. Every file is read and every
trainer built before anything is returned: a refused pair changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, read_checkpoint, restore_trainer
from .config import Config, ConfigError, changed_keys
from .group import Overrides, RunGroup, arm_name, is_shared_key

USES_POINTS = ("drawn", "csv")  # the user's own points travel in the checkpoint


def label(path: str | os.PathLike) -> str:
    """The file with its folder (sweep trials all call theirs checkpoint.safetensors)."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def arm_overrides(base: Config, config: Config) -> Overrides:
    """``config`` as ``section.key=value`` overrides of ``base``."""
    return tuple((key, new) for key, _, new in changed_keys(base, config))


def check_shared(configs: Sequence[Config], labels: Sequence[str]) -> None:
    """Raise CheckpointError (one sentence) if a data setting or the seed differs."""
    first = configs[0]
    for i, cfg in enumerate(configs[1:], start=1):
        for key, a, b in changed_keys(first, cfg):
            if is_shared_key(key):
                raise CheckpointError(
                    f"Cannot compare {labels[0]} and {labels[i]}: compare arms share the data "
                    f"and the seed (data.* and train.seed), but {key} is {a!r} in arm A and "
                    f"{b!r} in arm {arm_name(i)}."
                )


def read_configs(paths: Sequence[str | os.PathLike]) -> list[Config]:
    """Each checkpoint's config, checked to share data and seed (CheckpointError otherwise)."""
    configs = []
    for i, p in enumerate(paths):
        try:
            configs.append(read_checkpoint(p).config)
        except CheckpointError as e:
            raise CheckpointError(f"Arm {arm_name(i)}: {label(p)}{_tail(e, p)}") from None
    check_shared(configs, [label(p) for p in paths])
    return configs


def restore_group(paths: Sequence[str | os.PathLike]) -> RunGroup:
    """A group of ``len(paths)`` arms (at least two), arm i restored from ``paths[i]``."""
    if len(paths) < 2:
        raise CheckpointError("Compare needs two checkpoints, one for each arm.")
    read_configs(paths)
    trainers = []
    for i, p in enumerate(paths):
        try:
            trainers.append(restore_trainer(p))
        except CheckpointError as e:
            raise CheckpointError(f"Arm {arm_name(i)}: {label(p)}{_tail(e, p)}") from None
    first = trainers[0]
    for i, t in enumerate(trainers[1:], start=1):
        same = all(
            torch.equal(getattr(t, k).cpu(), getattr(first, k).cpu())
            if getattr(t, k).shape == getattr(first, k).shape
            else False
            for k in ("train_x", "test_x")
        )
        if not same:
            raise CheckpointError(
                f"Cannot compare {label(paths[0])} and {label(paths[i])}: compare arms train "
                "on the same points, and these checkpoints hold different data points."
            )
    base = first.config
    arms = [arm_overrides(base, t.config) for t in trainers]
    points = None
    if base.data.name in USES_POINTS:
        points = first.train_x.cpu().numpy().astype(np.float64)
    try:
        return RunGroup(base, arms, points, trainers=trainers)
    except ConfigError as e:  # checked above; a guard against a key the group refuses
        raise CheckpointError(f"Cannot compare these checkpoints: {e}.") from None


def _tail(e: CheckpointError, path: str | os.PathLike) -> str:
    """The reason after the file name that ``read_checkpoint`` puts first."""
    text = str(e)
    name = Path(path).name
    return text[len(name) :] if text.startswith(name) else f": {text}"


__all__ = ["arm_overrides", "check_shared", "label", "read_configs", "restore_group"]
