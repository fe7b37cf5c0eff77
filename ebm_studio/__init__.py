"""EBM Studio: train toy 2D energy-based models interactively."""

from __future__ import annotations

__version__ = "0.1.0"


def load_checkpoint(path, device: str | None = "cpu"):
    """Load a checkpoint: returns an object with ``.energy(x)``, ``.config`` and ``.step``."""
    from .core.checkpoint import load_checkpoint as _load

    return _load(path, device=device)


__all__ = ["__version__", "load_checkpoint"]
