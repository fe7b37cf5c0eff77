"""Training objectives, one module per family; ``build_objective`` picks one by name."""

from __future__ import annotations

from ..config import Config
from .base import Context, Objective


def build_objective(name: str, ctx: Context, cfg: Config) -> Objective:
    """Create the objective called ``name`` (config.OBJECTIVES)."""
    if name == "mcmc":
        from .mcmc import MCMCObjective

        return MCMCObjective(ctx, cfg)
    if name in ("nce", "fce"):
        from . import nce

        return nce.build(name, ctx, cfg)
    if name in ("sm", "dsm", "ssm"):
        from . import score

        return score.build(name, ctx, cfg)
    if name == "snl":
        from .snl import SNLObjective

        return SNLObjective(ctx, cfg)
    raise ValueError(f"unknown objective '{name}'")


__all__ = ["Context", "Objective", "build_objective"]
