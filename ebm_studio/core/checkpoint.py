"""Checkpoints: safetensors (tensors only) + JSON metadata. Loading never unpickles.

The safetensors header is parsed by the safetensors library, which only reads JSON and raw
little-endian buffers; we additionally validate the metadata and every tensor's dtype and shape
against a freshly built trainer before touching the running state.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write_bytes
from .config import Config, ConfigError
from .frames import events_from_json

FORMAT = "ebm-studio-checkpoint"
FORMAT_VERSION = 1
MAX_HEADER = 64 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a loadable EBM Studio checkpoint (message: one sentence)."""


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"ebm_studio": __version__, "torch": torch.__version__, "numpy": np.__version__}


def save_checkpoint(trainer, path: str | os.PathLike) -> None:
    """Write the trainer's complete state atomically to ``path``."""
    from safetensors.torch import save

    tensors, meta = trainer.state_dict()
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "meta": json.dumps(meta),
        "versions": json.dumps(_versions()),
    }
    atomic_write_bytes(path, save(tensors, metadata=header))


@dataclass
class CheckpointData:
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    config: Config


def read_checkpoint(path: str | os.PathLike) -> CheckpointData:
    """Read and validate a checkpoint file; raises CheckpointError with one clear sentence."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    p = Path(path)
    name = p.name
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{name}: cannot be read ({e.strerror or e}).") from None
    if len(raw) < 8:
        raise CheckpointError(f"{name}: is not an EBM Studio checkpoint (file too short).")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        raise CheckpointError(
            f"{name}: is not an EBM Studio checkpoint (no valid safetensors header; "
            "a pickle/.pt file or a truncated file?)."
        )
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(
            f"{name}: is not an EBM Studio checkpoint (header is not JSON)."
        ) from None
    md = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(md, dict) or md.get("format") != FORMAT:
        raise CheckpointError(f"{name}: is a safetensors file but not an EBM Studio checkpoint.")
    if md.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{name}: checkpoint format version {md.get('format_version')!r} is not supported "
            f"(this EBM Studio reads version {FORMAT_VERSION})."
        )
    try:
        tensors = load(raw)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{name}: is corrupt or truncated ({e}).") from None
    try:
        meta = json.loads(md["meta"])
        config = Config.from_dict(meta["config"], source=name)
        int(meta["step"])
        events_from_json(meta.get("events", []))  # typed events, or older [step, text] pairs
    except ConfigError as e:
        raise CheckpointError(f"{name}: holds an invalid configuration: {e}") from None
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        raise CheckpointError(f"{name}: has malformed metadata.") from None
    return CheckpointData(tensors, meta, config)


def check_compatible(trainer, data: CheckpointData, name: str) -> None:
    """Every tensor the trainer would load must exist with the same dtype and shape."""
    own, _ = trainer.state_dict()
    for key, t in own.items():
        if key.startswith(("data.", "history", "objective.", "extra_optim.", "optim.")):
            continue
        if key not in data.tensors:
            raise CheckpointError(f"{name}: tensor '{key}' is missing.")
        u = data.tensors[key]
        if u.dtype != t.dtype or u.shape != t.shape:
            raise CheckpointError(
                f"{name}: tensor '{key}' has {u.dtype} {tuple(u.shape)}, "
                f"expected {t.dtype} {tuple(t.shape)} for this configuration."
            )
    shape = tuple(trainer.event_shape)
    for key in ("data.train", "data.test"):
        u = data.tensors.get(key)
        if u is None or u.dtype != torch.float32 or u.ndim < 2 or tuple(u.shape[1:]) != shape:
            dims = ", ".join(map(str, shape))
            raise CheckpointError(f"{name}: tensor '{key}' is missing or not float32 (N, {dims}).")


def restore_trainer(path: str | os.PathLike, points=None, device: str | None = None):
    """Build a Trainer from a checkpoint (optionally on another device)."""
    from dataclasses import replace

    from .trainer import Trainer

    data = read_checkpoint(path)
    cfg = data.config
    if device is not None:
        cfg = replace(cfg, train=replace(cfg.train, device=device))
    if points is None and cfg.data.name == "mnist":
        # The user's MNIST file may be gone: the checkpoint's own images rebuild the set.
        points = torch.cat([data.tensors["data.train"], data.tensors["data.test"]]).numpy()
    elif points is None and cfg.data.name in ("csv", "drawn", "image"):
        points = data.tensors["data.train"].numpy().astype(np.float64)
        if cfg.data.name != "image":
            cfg = replace(cfg, data=replace(cfg.data, name="drawn", path=""))
    trainer = Trainer(cfg, points=points, pretrain=False)
    load_into(trainer, data, Path(path).name)
    return trainer


def load_into(trainer, data: CheckpointData, name: str) -> None:
    check_compatible(trainer, data, name)
    try:
        trainer.load_state_dict(data.tensors, data.meta)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{name}: does not match this configuration ({e}).") from None


class LoadedModel:
    """What ``ebm_studio.load_checkpoint`` returns: ``energy(x)``, ``config``, ``step``."""

    def __init__(self, trainer) -> None:
        self._trainer = trainer
        self.model = trainer.model
        self.config: dict[str, Any] = trainer.config.to_dict()
        self.step: int = trainer.step_count
        self.trainer = trainer

    @torch.no_grad()
    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) for x of shape (N, *event_shape) -> (N,)."""
        from .metrics import eval_blocked

        dev = self._trainer.device
        return eval_blocked(self.model, x.to(dev, torch.float32)).to(x.device)


def load_checkpoint(path: str | os.PathLike, device: str | None = "cpu") -> LoadedModel:
    return LoadedModel(restore_trainer(path, device=device))
