"""EBM Studio: train toy 2D energy-based models interactively."""

from __future__ import annotations

__version__ = "0.1.0"


def load_checkpoint(path, device: str | None = "cpu"):
    """Load a checkpoint: returns an object with ``.energy(x)``, ``.config`` and ``.step``."""
    from .core.checkpoint import load_checkpoint as _load

    return _load(path, device=device)


def sample(energy, x0, sampler: str = "mala", **kwargs):
    """Chains from any energy in any dimension: see ``ebm_studio.api.sample``."""
    from .api import sample as _sample

    return _sample(energy, x0, sampler, **kwargs)


def train(module, data, objective: str = "mcmc", **kwargs):
    """Train one's own module on one's own tensor: see ``ebm_studio.api.train``."""
    from .api import train as _train

    return _train(module, data, objective, **kwargs)


def studio(energy_or_path, **kwargs):
    """Open the studio on a checkpoint or one's own 2D energy: see ``ebm_studio.studio_api``."""
    from .studio_api import studio as _studio

    return _studio(energy_or_path, **kwargs)


__all__ = ["__version__", "load_checkpoint", "sample", "studio", "train"]
