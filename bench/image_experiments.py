"""Measure the digit experiments img-noise-funnel and img-elastic over seeds (the numbers in
their presets, docs/experiments.md 9-10 and README).

    OMP_NUM_THREADS=1 python bench/image_experiments.py [--seeds 0 1 2]

For each seed: train img-ml (img-noise-funnel trains the same run) and img-elastic (the same
run with elastic transitions), then, with the protocols of core/chain_mixing.py,
- funnel: chains started on training digits (every class present), run by img-ml's sampler
  at each decoupled noise sigma; the class histogram at the end (entropy, the largest class and
  its share, the confident fraction);
- elastic: chains started on training digits, classified every few steps: class changes per
  1000 sampler steps, for each model sampled with and without elastic transitions.
"""

from __future__ import annotations

import argparse
import time

from ebm_studio.core.chain_mixing import CHAINS, ELASTIC_EVERY, FUNNEL_NOISES, funnel, mixing_rate
from ebm_studio.core.digit_classifier import load_or_train
from ebm_studio.core.presets import load_preset
from ebm_studio.core.trainer import Trainer


def trained(name: str, seed: int) -> Trainer:
    t = Trainer(load_preset(name).config.with_value("train.seed", seed))
    t.train(t.config.train.steps)
    return t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    every = ELASTIC_EVERY
    for seed in args.seeds:
        t0 = time.perf_counter()
        ml = trained("img-ml", seed)
        el = trained("img-elastic", seed)
        ds = ml.dataset
        clf = load_or_train(ds.name, ds.images, ds.labels)
        parts = []
        for noise in FUNNEL_NOISES:
            m = funnel(ml, clf, noise, seed)
            top = max(range(len(m.histogram)), key=m.histogram.__getitem__)
            parts.append(
                f"noise {noise}: entropy {m.entropy:.2f}, top class {top} "
                f"{m.histogram[top] / CHAINS:.0%}, confident {m.confident:.0%}"
            )
        rates = {
            "ml/plain": mixing_rate(ml, clf, 0, seed),
            "ml/elastic": mixing_rate(ml, clf, every, seed),
            "elastic/plain": mixing_rate(el, clf, 0, seed),
            "elastic/elastic": mixing_rate(el, clf, every, seed),
        }
        print(
            f"seed {seed}: funnel (img-ml) "
            + "; ".join(parts)
            + " | class changes per 1000 steps (model/sampling) "
            + ", ".join(f"{k} {v:.1f}" for k, v in rates.items())
            + f" | {time.perf_counter() - t0:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
