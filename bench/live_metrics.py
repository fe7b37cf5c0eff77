"""Live curve metrics: their error against the full grid and their cost in training speed.

    python bench/live_metrics.py [--quick] [--preset buffer-ml] [--res 96]

Trains a preset headless; at regular steps compares ``worker.live_metrics.live_metrics``
(coarse grid, test subset) with ``Trainer.evaluate`` (``train.grid_res`` grid, whole test
set), and times both against the training step. ``cost_fraction`` is the share of training
time the live metrics take at one evaluation per ``LIVE_INTERVAL_S`` (the worker's cadence):
time of one live evaluation / the interval; target <= 0.05.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ebm_studio.core.presets import load_preset  # noqa: E402
from ebm_studio.core.trainer import Trainer  # noqa: E402
from ebm_studio.worker.live_metrics import (  # noqa: E402
    LIVE_INTERVAL_S,
    LIVE_RES,
    LIVE_TEST_POINTS,
    live_metrics,
)


def timed(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(
    quick: bool = False,
    preset: str = "buffer-ml",
    res: int = LIVE_RES,
    n_test: int = LIVE_TEST_POINTS,
) -> dict:
    torch.set_num_threads(1)  # the studio's worker thread count on a 2-core machine
    cfg = load_preset(preset).config.with_value("train.eval_every", 10**6)
    t = Trainer(cfg)
    steps, every = (400, 100) if quick else (2000, 250)
    errors = {"kl": [], "nll": []}
    step_times = []
    for s in range(1, steps + 1):
        t0 = time.perf_counter()
        t.step()
        step_times.append(time.perf_counter() - t0)
        if s % every == 0:
            full, live = t.evaluate(), live_metrics(t, res, n_test)
            for k in errors:
                if k in full:
                    errors[k].append(abs(live[f"{k}_live"] - full[k]))
            print(f"step {s}: " + ", ".join(
                f"{k} full {full[k]:.4f} live {live[f'{k}_live']:.4f}" for k in errors if k in full
            ))  # fmt: skip
    t_live = timed(lambda: live_metrics(t, res, n_test))
    t_full = timed(lambda: t.evaluate(), 3)
    t_step = float(np.median(step_times))
    out = {
        "preset": preset,
        "res": res,
        "n_test": n_test,
        "max_kl_error": max(errors["kl"], default=float("nan")),
        "max_nll_error": max(errors["nll"], default=float("nan")),
        "live_ms": 1e3 * t_live,
        "full_ms": 1e3 * t_full,
        "step_ms": 1e3 * t_step,
        "cost_fraction": t_live / LIVE_INTERVAL_S,
    }
    for k, v in out.items():
        print(f"{k:>14}: {v:.4g}" if isinstance(v, float) else f"{k:>14}: {v}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--preset", default="buffer-ml")
    ap.add_argument("--res", type=int, default=LIVE_RES)
    ap.add_argument("--n-test", type=int, default=LIVE_TEST_POINTS)
    a = ap.parse_args()
    run(a.quick, a.preset, a.res, a.n_test)
