"""What the worker adds to the trainers' snapshots before a frame leaves: sample-mode chains,
the run's static layers, the chain-health sample, and trails only where they mean something.

No Qt: this runs in the worker thread and is called by ``RunWorker`` only.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import torch

from ..core.config import Config
from ..core.frames import Frame, FrameInfo, HealthSample, SampleInfo, Snapshot, StaticLayers
from ..core.group import RunGroup
from ..core.metrics import grid_points
from ..core.samplers import Sampler
from ..core.trainer import Trainer
from .commands import SampleMode
from .image_framing import image_extras

MAX_DRAWN_CHAINS = 100_000
DATA_POINTS_SHOWN = 2000
TRUE_DENSITY_RES = 100
TRAIL_CHAINS = 8
TRAIL_LENGTH = 50
HEALTH_SAMPLE = 256  # chains, data and buffer points per frame for the chain-health panel


def trails_follow_chains(config: Config) -> bool:
    """Whether the first chains of successive updates are the same chains. Only persistent
    chains with one chain per bank slot continue; CD, replay-buffer and short-run chains are
    fresh draws each update, so joining their positions would draw jumps, not trails."""
    return (
        config.objective.name == "mcmc"
        and config.objective.start == "persistent"
        and config.sampler.n_chains == config.buffer.size
    )


@dataclasses.dataclass
class SampleRun:
    """Sample mode for one arm: chains of its frozen model, advanced by the shared
    ``Sampler``."""

    command: SampleMode
    sampler: Sampler
    gen: torch.Generator
    x: torch.Tensor
    steps: int = 0
    trails: deque = dataclasses.field(default_factory=lambda: deque(maxlen=TRAIL_LENGTH))
    jumps: deque = dataclasses.field(default_factory=lambda: deque(maxlen=TRAIL_LENGTH))
    info: SampleInfo | None = None

    @classmethod
    def start(cls, t: Trainer, cmd: SampleMode) -> SampleRun:
        gen = torch.Generator(device=t.device).manual_seed(t.config.train.seed + 17)
        x = t.sample_starts(int(cmd.n_chains), cmd.start, gen)
        run = cls(cmd, Sampler(cmd.sampler, t.box), gen, x)
        run.trails.append(x[:TRAIL_CHAINS].cpu())
        run.jumps.append(torch.zeros(len(run.trails[0]), dtype=torch.bool))
        return run

    def restarts_for(self, cmd: SampleMode) -> bool:
        """Whether ``cmd`` needs new chains (else it only changes the sampler in place)."""
        return (
            cmd.restart or cmd.n_chains != self.command.n_chains or cmd.start != self.command.start
        )

    def update(self, cmd: SampleMode) -> None:
        self.sampler.apply_config(cmd.sampler)
        self.command = cmd

    def step(self, t: Trainer) -> None:
        """``command.steps`` sampler steps of every chain on ``t``'s (frozen) model."""
        x, stats = self.sampler.run(t.model, self.x, max(int(self.command.steps), 1), self.gen)
        self.x = x.detach()
        self.steps += stats.steps
        self.trails.append(self.x[:TRAIL_CHAINS].cpu())
        moved = self.sampler.moved
        self.jumps.append(
            torch.zeros(len(self.trails[-1]), dtype=torch.bool)
            if moved is None
            else moved[:TRAIL_CHAINS].cpu()
        )
        self.info = SampleInfo(
            self.steps, stats.mean_energy, stats.grad_norm, stats.acceptance, stats.swap_rates
        )

    def into(self, snap: Snapshot) -> Snapshot:
        """``snap`` with this run's chains and trails in place of the trainer's."""
        return dataclasses.replace(
            snap,
            chains=self.x[:MAX_DRAWN_CHAINS].cpu().numpy().copy(),
            trails=torch.stack(list(self.trails), 1).numpy().copy(),
            trail_jumps=torch.stack(list(self.jumps), 1).numpy().copy(),
            sample=self.info or SampleInfo(self.steps, float("nan"), float("nan")),
        )


def static_layers(t: Trainer) -> StaticLayers:
    """What changes only on reset: shown data points and the true log-density grid."""
    data = t.train_x[:DATA_POINTS_SHOWN].cpu().numpy().copy()
    if not t.dataset.has_density:
        return StaticLayers(data)
    pts, _ = grid_points(t.box, TRUE_DENSITY_RES)
    with torch.no_grad():
        lp = t.dataset.log_prob(pts.double())
    return StaticLayers(data, lp.reshape(TRUE_DENSITY_RES, TRUE_DENSITY_RES).numpy().copy())


@torch.no_grad()
def health_sample(t: Trainer, snap: Snapshot) -> HealthSample:
    """Energies for the chain-health panel: a few hundred model evaluations per frame.

    ``chains`` are the first drawn chains (the same chains frame to frame in sample mode and
    under persistent CD; under CD and the buffer they are each update's negatives), ``data`` a
    fixed data sample, ``buffer`` the first buffer entries."""

    def energies(x: torch.Tensor | np.ndarray | None) -> np.ndarray | None:
        if x is None or not len(x):
            return None
        x = torch.from_numpy(x[:HEALTH_SAMPLE]).to(t.device) if isinstance(x, np.ndarray) else x
        return t.model(x.float()).double().cpu().numpy()

    data = energies(t.train_x[:HEALTH_SAMPLE])
    assert data is not None
    swaps = snap.sample.swap_rates if snap.sample is not None else t.objective.swap_rates()
    return HealthSample(data, energies(snap.chains), energies(snap.buffer), swaps)


def dress(
    frame: Frame,
    group: RunGroup,
    info: FrameInfo,
    samples: list[SampleRun] | None,
    static: bool,
    health: bool,
) -> Frame:
    """``frame`` as it leaves the worker: with ``info``, each arm's sample-mode chains, the
    static layers when ``static`` (computed once: the arms share their data), and a health
    sample per arm when ``health``."""
    layers = static_layers(group.trainers[0]) if static else None
    arms = []
    for i, (t, snap) in enumerate(zip(group.trainers, frame.arms)):
        if samples:
            snap = samples[i].into(snap)
        elif not trails_follow_chains(t.config):
            snap = dataclasses.replace(snap, trails=None, trail_jumps=None)
        if layers is not None:
            snap = dataclasses.replace(snap, static=layers)
        if health:
            snap = dataclasses.replace(snap, health=health_sample(t, snap))
        if not t.is_2d:
            snap = dataclasses.replace(
                snap, image=image_extras(t, snap, force=static or info.state == "paused")
            )
        arms.append(snap)
    return dataclasses.replace(frame, arms=tuple(arms), info=info)


__all__ = [
    "MAX_DRAWN_CHAINS",
    "SampleRun",
    "dress",
    "health_sample",
    "static_layers",
    "trails_follow_chains",
]
