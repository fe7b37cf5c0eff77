"""Image-mode speed: img-ml training steps/s on 8x8 digits, and sampler chain-steps/s of the
conv energy (Langevin, autograd) on 8x8 and 28x28 images.

    python bench/images.py [--threads 2] [--device cpu|cuda] [--quick]

Prints one line per measurement; quote them in README (Images) with the machine and load.
"""

from __future__ import annotations

import argparse
import time

import torch

from ebm_studio.core.config import Config
from ebm_studio.core.models import ConvEnergy
from ebm_studio.core.presets import load_preset
from ebm_studio.core.samplers import Sampler
from ebm_studio.core.trainer import Trainer


def train_rate(steps: int, device: str) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second of this process): on a loaded machine the
    second says what the same work costs without competition."""
    cfg = load_preset("img-ml").config.with_value("train.device", device)
    t = Trainer(cfg)
    t.train(5)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    t.train(steps)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def chain_rate(side: int, chains: int, steps: int, device: str) -> float:
    cfg = Config()
    model = ConvEnergy(cfg.model, (1, side, side)).to(device)
    sampler = Sampler(cfg.sampler, 1.0)
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(chains, 1, side, side, generator=gen, device=device) * 2 - 1
    sampler.run(model, x, 2, gen)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    sampler.run(model, x, steps, gen)
    if device == "cuda":
        torch.cuda.synchronize()
    return chains * steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    n = 20 if a.quick else 200
    wall, cpu = train_rate(n, a.device)
    print(f"img-ml training: {wall:.1f} steps/s wall, {cpu:.1f} steps per CPU-second")
    for side, chains in ((8, 256), (28, 256)):
        r = chain_rate(side, chains, 5 if a.quick else 50, a.device)
        print(f"conv energy {side}x{side}, {chains} chains: {r:,.0f} chain-steps/s")


if __name__ == "__main__":
    main()
