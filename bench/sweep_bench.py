"""Sweep throughput: 4 trials through Ray on 2 cores against the same 4 one after another.

    python bench/sweep_bench.py [--quick] [--cores 2]

Prints Ray's start-up time (``ray.init`` of a local Ray with ``--cores`` CPUs), the sweep's
wall time on Ray without and with the start-up, the sequential wall time of the same 4 trials
(the trial function in this process, one torch thread each, as in a Ray worker), and the
throughput ratio sequential / Ray (target >= 1.6 on 2 cores). The machine may be shared:
read the ratio, not the seconds. Not a test: it asserts nothing about wall-clock time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ebm_studio.core.presets import load_preset
from ebm_studio.sweep.engine import run_sweep, start_ray
from ebm_studio.sweep.spec import build_spec
from ebm_studio.sweep.trial import run_trial


def main() -> dict[str, float]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short trials (a smoke run)")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    cfg = load_preset("pcd").config
    # pcd at full size, fewer steps: each trial takes seconds to tens of seconds, long next to
    # Ray's per-task overhead as a real sweep's trials are.
    steps = 60 if args.quick else 600
    cfg = cfg.with_value("train.steps", steps).with_value("train.device", "cpu")
    spec = build_spec(cfg, ["sampler.step_size=0.01,0.02"], [0, 1], preset="pcd")

    t0 = time.perf_counter()
    for t in spec.trials():
        run_trial(t.config(spec.base).to_dict())
    sequential = time.perf_counter() - t0

    import ray

    t0 = time.perf_counter()
    start_ray(None, num_cpus=args.cores)
    startup = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            records = run_sweep(spec, Path(tmp) / "sweep", progress=False)
            on_ray = time.perf_counter() - t0
    finally:
        ray.shutdown()
    assert all(r and r["status"] == "ok" for r in records.values())
    out = {
        "steps_per_trial": steps,
        "ray_startup_s": startup,
        "sequential_s": sequential,
        "ray_s": on_ray,
        "ratio": sequential / on_ray,
        "ratio_with_startup": sequential / (on_ray + startup),
    }
    for k, v in out.items():
        print(f"{k:>20}  {v:.3f}" if isinstance(v, float) else f"{k:>20}  {v}")
    return out


if __name__ == "__main__":
    main()
