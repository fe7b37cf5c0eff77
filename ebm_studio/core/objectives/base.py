"""What every training objective provides to the trainer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config


@dataclass
class Context:
    """What an objective may use: the network, the run's generator, the data and its box."""

    model: nn.Module
    gen: torch.Generator
    device: torch.device
    box: float
    data: torch.Tensor  # the training set (N, *event_shape), on device
    data_mean: torch.Tensor  # (D,), D = prod(event_shape): 2 in the studio's 2D mode
    data_cov: torch.Tensor  # (D, D)
    # The run's RealNVP (FCE noise, SNL proposal), shared by the objectives; see shared_flow.
    flow: nn.Module | None = None
    # False while a checkpoint is being restored: its flow weights are loaded, so building the
    # flow skips the ML pretraining (seconds of wasted work).
    pretrain: bool = True


class Objective:
    """A loss for the energy network, plus any state of its own (log Z, chains, a flow).

    The trainer minimises ``loss`` over the network's parameters and ``extra_parameters``;
    ``after_step`` runs after the optimizer step (e.g. the FCE flow's own update).
    """

    name = "base"

    def __init__(self, ctx: Context, cfg: Config) -> None:
        self.ctx, self.cfg = ctx, cfg

    def apply_config(self, cfg: Config) -> None:
        self.cfg = cfg

    def extra_parameters(self) -> list[torch.Tensor]:
        return []

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def after_step(self) -> dict[str, float]:
        return {}

    def chains(self) -> torch.Tensor | None:
        """Latest negative samples (for display), or None."""
        return None

    def chain_jumps(self) -> torch.Tensor | None:
        """(n,) bool per chain of ``chains()``: it did not move there continuously from its
        previous position (an augmentation move or a restart); None: no such information."""
        return None

    def swap_rates(self) -> tuple[float, ...] | None:
        """Parallel tempering's swap acceptance per adjacent pair in the last update (None
        for every other sampler and objective)."""
        return None

    def buffer(self) -> torch.Tensor | None:
        return None

    def log_z_estimate(self) -> float | None:
        """The objective's learned log Z (NCE's c, SNL's b), or None."""
        return None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        pass

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.ctx.model(x)
