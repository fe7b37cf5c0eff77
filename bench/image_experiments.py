"""Measure the digit experiments img-noise-funnel and img-elastic over seeds (the numbers in
their presets, docs/experiments.md 9-10 and README).

    OMP_NUM_THREADS=1 python bench/image_experiments.py [--seeds 0 1 2] [--chains 500]

For each seed: train img-ml (the noise-funnel model) and img-elastic (the same run with elastic
transitions), then
- funnel: 500 chains from uniform noise, FUNNEL_STEPS steps of the model's own sampler at each
  noise sigma; the entropy of the class histogram at the end;
- elastic: 500 chains started on held-out... training digits, MIX_STEPS steps, classified
  every EVERY steps: class changes per 1000 sampler steps, for each model sampled with and
  without elastic transitions.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from ebm_studio.core.chain_mixing import class_trace, long_chain_entropy
from ebm_studio.core.digit_classifier import load_or_train
from ebm_studio.core.presets import load_preset
from ebm_studio.core.samplers import Sampler
from ebm_studio.core.trainer import Trainer

FUNNEL_NOISES = (0.02, 0.1)
FUNNEL_STEPS = 1000
MIX_STEPS = 1000
EVERY = 10


def trained(name: str, seed: int) -> Trainer:
    t = Trainer(load_preset(name).config.with_value("train.seed", seed))
    t.train(t.config.train.steps)
    return t


def funnel(t: Trainer, clf, chains: int, seed: int) -> dict[float, float]:
    out = {}
    for noise in FUNNEL_NOISES:
        s = Sampler(dataclasses.replace(t.config.sampler, noise=noise), t.box)
        gen = torch.Generator().manual_seed(seed)
        x = t.sample_starts(chains, "noise", gen)
        out[noise] = long_chain_entropy(clf, s, t.model, x, FUNNEL_STEPS, gen)
    return out


def mixing(t: Trainer, clf, chains: int, seed: int, elastic: bool) -> float:
    cfg = t.config.sampler
    cfg = dataclasses.replace(
        cfg,
        augment="elastic" if elastic else "none",
        augment_every=load_preset("img-elastic").config.sampler.augment_every if elastic else 0,
    )
    gen = torch.Generator().manual_seed(seed)
    x = t.sample_starts(chains, "data", gen)
    return class_trace(clf, Sampler(cfg, t.box), t.model, x, MIX_STEPS, EVERY, gen).changes_per_1000()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--chains", type=int, default=500)
    args = p.parse_args()
    for seed in args.seeds:
        t0 = time.perf_counter()
        ml = trained("img-ml", seed)
        el = trained("img-elastic", seed)
        ds = ml.dataset
        clf = load_or_train(ds.name, ds.images, ds.labels)
        f = funnel(ml, clf, args.chains, seed)
        row = {
            "ml/plain": mixing(ml, clf, args.chains, seed, False),
            "ml/elastic": mixing(ml, clf, args.chains, seed, True),
            "elastic/plain": mixing(el, clf, args.chains, seed, False),
            "elastic/elastic": mixing(el, clf, args.chains, seed, True),
        }
        fe = funnel(el, clf, args.chains, seed)
        print(
            f"seed {seed}: funnel entropy (img-ml) "
            + ", ".join(f"noise {k}: {v:.3f}" for k, v in f.items())
            + " | (img-elastic) "
            + ", ".join(f"noise {k}: {v:.3f}" for k, v in fe.items())
            + " | class changes per 1000 steps (model/sampling) "
            + ", ".join(f"{k} {v:.1f}" for k, v in row.items())
            + f" | {time.perf_counter() - t0:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
