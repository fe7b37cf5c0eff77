"""img-noise-funnel and img-elastic on seed 0 (Gagnon & Lajoie 2022, Figures 4 and 5), with
the protocols of core/chain_mixing.py. img-noise-funnel trains exactly img-ml's run, so it
samples the img-ml checkpoint that tests/test_image_presets.py trains (one training per
preset and session, shared); img-elastic trains once here. Marked slow: runs in CI.

Bounds: the spread over seeds 0-2 measured by bench/image_experiments.py (docs/experiments.md,
9 and 10), with margin."""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest
from test_image_presets import preset_run

from ebm_studio.core.chain_mixing import ELASTIC_EVERY, FUNNEL_NOISES, funnel, mixing_rate
from ebm_studio.core.checkpoint import restore_trainer
from ebm_studio.core.digit_classifier import load_or_train
from ebm_studio.core.presets import load_preset

pytestmark = pytest.mark.slow
RATIO = 5  # measured 12.6-22.2 over seeds 0-2


@functools.cache
def judged(name: str):
    """The trained run of ``name`` (seed 0, preset length) and the digit classifier."""
    t = restore_trainer(preset_run(name) / "checkpoint.safetensors")
    clf = load_or_train(t.dataset.name, t.dataset.images, t.dataset.labels)
    return t, clf


def test_the_noise_funnel_preset_trains_img_mls_run():
    # What lets the funnel test sample img-ml's checkpoint instead of training again.
    assert load_preset("img-noise-funnel").config == load_preset("img-ml").config


def test_raising_the_sampling_noise_funnels_long_chains_into_fewer_digits():
    t, clf = judged("img-ml")
    low, high = (funnel(t, clf, noise, seed=0) for noise in FUNNEL_NOISES)
    print(f"funnel: noise {FUNNEL_NOISES[0]} {low}; noise {FUNNEL_NOISES[1]} {high}")
    # Seeds 0-2: the entropy fell by 0.35-0.97 nats, the largest class grew 1.6-2.3 times,
    # and 73-89% of the high-noise chains stayed confident digits.
    assert high.entropy < low.entropy - 0.2
    assert max(high.histogram) > max(low.histogram) * 1.3
    assert high.confident > 0.6  # still digits: a funnel, not noise swamping the images


def test_elastic_transitions_raise_class_changes_per_1000_steps():
    el, clf = judged("img-elastic")
    ml, _ = judged("img-ml")
    # Trained with elastic warps of the buffer draws and sampled with a warp proposed every
    # ELASTIC_EVERY steps, vs trained and sampled without (the paper's first two chains).
    with_elastic = mixing_rate(el, clf, ELASTIC_EVERY, seed=0)
    without = mixing_rate(ml, clf, 0, seed=0)
    print(f"class changes per 1000 steps: elastic {with_elastic:.1f}, plain {without:.1f}")
    assert with_elastic > RATIO * without
    # Training with the warps adds to what they do at sampling time (the paper's third chain):
    # sampled alike, the plain model changed class less at each of seeds 0-2 (by 3.3-9.8).
    assert with_elastic > mixing_rate(ml, clf, ELASTIC_EVERY, seed=0)
    sampler = replace(ml.config.sampler, augment="elastic", augment_on_draw=True)
    assert el.config == replace(ml.config, sampler=sampler)  # they differ only in the warps
