"""Elastic deformation as a sampler transition (``sampler.augment = "elastic"``): offered on
image data, refused with one sentence on 2D points."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ebm_studio.core.config import Config, ConfigError, SamplerConfig
from ebm_studio.core.datasets import load_digits
from ebm_studio.core.samplers import Sampler


def test_elastic_is_refused_on_2d_data_with_one_sentence_and_allowed_on_digits():
    with pytest.raises(ConfigError) as err:
        Config().with_value("sampler.augment", "elastic")
    msg = str(err.value)
    assert "\n" not in msg and "sampler.augment" in msg and "'8gaussians'" in msg
    assert "'jump'" in msg and "'elastic'" not in msg.split("expected")[1]  # allowed values
    digits = Config().with_value("data.name", "digits")
    assert digits.with_value("sampler.augment", "elastic").sampler.augment == "elastic"
    # Leaving images while elastic is on is refused too (nothing half-applied).
    with pytest.raises(ConfigError, match="sampler.augment"):
        digits.with_value("sampler.augment", "elastic").with_value("data.name", "moons")


def test_elastic_transitions_move_image_chains_inside_a_sampler_run():
    x0 = load_digits().images[:32]
    cfg = dataclasses.replace(
        SamplerConfig(), step_size=1e-4, augment="elastic", augment_every=2, augment_mh=False
    )
    gen = torch.Generator().manual_seed(0)

    def energy(x):  # flat: Langevin barely moves, so the change comes from the warps
        return 0.0 * x.sum((1, 2, 3))

    sampler = Sampler(cfg, 1.0)
    x, _ = sampler.run(energy, x0.clone(), 4, gen)
    assert bool(sampler.moved.all())  # every chain took the (unconditional) warp
    plain = Sampler(dataclasses.replace(cfg, augment="none"), 1.0)
    y, _ = plain.run(energy, x0.clone(), 4, torch.Generator().manual_seed(0))
    warped = (x - x0).abs().mean().item()
    assert warped > 5 * (y - x0).abs().mean().item()  # the warps, not the Langevin noise


def test_a_class_trace_refuses_checks_that_would_skip_the_transitions():
    from ebm_studio.core.chain_mixing import class_trace

    cfg = dataclasses.replace(SamplerConfig(), augment="elastic", augment_every=100)
    x = load_digits().images[:4]
    with pytest.raises(ValueError, match="augment_every"):
        # Runs of 10 steps never reach the 100th step where the warp would be proposed.
        class_trace(None, Sampler(cfg, 1.0), lambda y: y.sum((1, 2, 3)), x, 1000, 10, None)
