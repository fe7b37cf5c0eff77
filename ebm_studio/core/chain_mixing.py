"""How image chains move between digit classes over long runs, judged by the digit classifier.

Two measures of the image experiments (docs/experiments.md, 9 and 10), both labelled as what
they are: the classifier's verdict, not an exact density.

- class changes per 1000 steps (``class_trace(...).changes_per_1000()``): run chains, classify
  them every ``every`` steps, and count how often each chain's predicted class changes, per
  1000 sampler steps (averaged over chains). Classifying every few steps undercounts a change
  that reverts within ``every`` steps, the same for every arm compared.
- the class entropy of long chains (``funnel``): the entropy (nats) of the class histogram of
  chains after a long run; log 10 = 2.303 when every class is equally common, 0 when every
  chain is one digit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .digit_classifier import ClassMetrics, DigitClassifier, class_metrics
from .samplers import EnergyFn, Sampler


@dataclass
class ClassTrace:
    labels: torch.Tensor  # (checks + 1, N) predicted class at step 0, every, 2*every, ...
    every: int  # sampler steps between two checks
    final: torch.Tensor  # the chains after the last step

    @property
    def steps(self) -> int:
        return self.every * (self.labels.shape[0] - 1)

    def changes_per_1000(self) -> float:
        """Class changes per chain per 1000 sampler steps."""
        changes = (self.labels[1:] != self.labels[:-1]).sum(0).double()
        return float(changes.mean()) * 1000.0 / max(self.steps, 1)


@torch.no_grad()
def _predict(clf: DigitClassifier, x: torch.Tensor) -> torch.Tensor:
    return clf(x.detach().cpu().float()).argmax(1)


def class_trace(
    clf: DigitClassifier,
    sampler: Sampler,
    energy: EnergyFn,
    x: torch.Tensor,
    steps: int,
    every: int,
    gen: torch.Generator,
) -> ClassTrace:
    """Run ``sampler`` on ``x`` for ``steps`` steps, classifying the chains every ``every``."""
    if every < 1 or steps < every:
        raise ValueError(f"need 1 <= every <= steps; got every={every}, steps={steps}")
    m = sampler.cfg.augment_every if sampler.cfg.augment != "none" else 0
    if m and every % m:
        # A Sampler.run call counts augment_every within itself: shorter calls never augment.
        raise ValueError(
            f"classify every multiple of sampler.augment_every ({m}) steps; got every={every}"
        )
    labels = [_predict(clf, x)]
    for _ in range(steps // every):
        x, _ = sampler.run(energy, x, every, gen)
        labels.append(_predict(clf, x))
    return ClassTrace(torch.stack(labels), every, x.detach())


# The protocols of the img-noise-funnel and img-elastic presets (docs/experiments.md 9-10,
# bench/image_experiments.py, tests/test_image_experiments.py): chains start on training
# digits, so every class is present at the start and the measure is where they go.
FUNNEL_NOISES = (0.005, 0.05)
FUNNEL_STEPS = 1500
MIX_STEPS = 1000
MIX_EVERY = 10
ELASTIC_EVERY = 10  # sampler steps between elastic proposals when sampling with them
CHAINS = 300


def funnel(
    trainer,
    clf: DigitClassifier,
    noise: float,
    seed: int,
    *,
    chains: int = CHAINS,
    steps: int = FUNNEL_STEPS,
) -> ClassMetrics:
    """The class histogram of ``chains`` chains started on training digits after ``steps``
    steps of the run's own sampler with decoupled noise ``noise``."""
    cfg = dataclasses.replace(trainer.config.sampler, noise_mode="decoupled", noise=noise)
    gen = torch.Generator(device=trainer.device).manual_seed(seed)
    x = trainer.sample_starts(chains, "data", gen)
    x, _ = Sampler(cfg, trainer.box).run(trainer.model, x, steps, gen)
    return class_metrics(clf, x)


def mixing_rate(
    trainer,
    clf: DigitClassifier,
    augment_every: int,
    seed: int,
    *,
    chains: int = CHAINS,
    steps: int = MIX_STEPS,
    every: int = MIX_EVERY,
) -> float:
    """Class changes per 1000 sampler steps of chains started on training digits, sampled by
    the run's sampler with elastic transitions every ``augment_every`` steps (0: none)."""
    cfg = dataclasses.replace(
        trainer.config.sampler,
        augment="elastic" if augment_every else "none",
        augment_every=augment_every,
    )
    gen = torch.Generator(device=trainer.device).manual_seed(seed)
    x = trainer.sample_starts(chains, "data", gen)
    trace = class_trace(clf, Sampler(cfg, trainer.box), trainer.model, x, steps, every, gen)
    return trace.changes_per_1000()
