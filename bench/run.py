"""Benchmarks: every comparison measured side by side in one run, median of repeats.

    python bench/run.py [--quick] [--json FILE] [--only langevin,train,grid,gui,gpu]

Prints a table and writes JSON with the keys ``langevin.<n>.{ours,plain,torchebm,
peak_fraction}`` (chain-steps/s), ``train.<objective>`` (steps/s), ``grid.<res>`` (ms),
``gui.{...}`` and ``gpu`` (null without CUDA). Not part of the test run: it asserts nothing
about wall-clock time, it reports ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ebm_studio.core import fast_energy
from ebm_studio.core.config import Config, ModelConfig, SamplerConfig
from ebm_studio.core.metrics import energy_grid
from ebm_studio.core.models import build_model
from ebm_studio.core.samplers import Sampler
from ebm_studio.core.trainer import Trainer


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, lazy init)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mlp_flops_per_eval(cfg: ModelConfig) -> float:
    """Multiply-add FLOPs of one forward pass (2 per MAC)."""
    dims = [2] + [cfg.width] * cfg.depth + [1]
    return sum(2 * a * b for a, b in zip(dims[:-1], dims[1:]))


def matmul_peak(device: torch.device, repeats: int = 5) -> float:
    """Measured FP32 matmul FLOP/s at the sampler's shapes (blocks of 4096 x width x width)."""
    n, w = (4096, 128) if device.type == "cpu" else (65536, 1024)
    a = torch.randn(n, w, device=device)
    b = torch.randn(w, w, device=device)

    def run():
        for _ in range(20):
            torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return 20 * 2 * n * w * w / median_time(run, repeats)


def plain_langevin(model, x, steps, eta, gen):
    """The loop everyone writes first: autograd on the whole batch."""
    sigma = (2 * eta) ** 0.5
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x).sum(), x)
        x = x - eta * g + sigma * torch.randn(x.shape, generator=gen, device=x.device)
    return x.detach()


def torchebm_langevin(model):
    """TorchEBM's LangevinDynamics on ``model`` (wrapped in its BaseModel), or None when the
    optional bench extra is absent. Its update is x - eta grad E + sqrt(2 eta) s xi."""
    try:
        from torchebm.core.base_model import BaseModel  # type: ignore
        from torchebm.samplers import LangevinDynamics  # type: ignore
    except Exception:
        return None

    class Wrapped(BaseModel):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    return LangevinDynamics(model=Wrapped(model), step_size=0.01, noise_scale=1.0)


def bench_langevin(quick: bool, device: torch.device) -> dict:
    model = build_model(ModelConfig()).to(device)
    flops_step = 2 * mlp_flops_per_eval(ModelConfig())  # forward + input-gradient backward
    peak = matmul_peak(device)
    # About the same work per contender at every chain count; five repeats even when quick
    # (three left the 10k ratios moving by 30% from run to run on a shared 2-core machine).
    steps_at = {1000: 40, 10000: 20, 100000: 10} if quick else {1000: 100, 10000: 50, 100000: 20}
    repeats = 5 if quick else 7
    te = torchebm_langevin(model)
    out = {"matmul_peak_gflops": peak / 1e9, "flops_per_chain_step": flops_step}
    compiled = Sampler(SamplerConfig(step_size=0.01, compile=True), box=4.5)
    t0 = time.perf_counter()
    compiled.run(model, torch.randn(5000, 2, device=device), 2, torch.Generator(device=device))
    out["compile_s"] = time.perf_counter() - t0  # first use: compiles (cached on disk after)
    out["compiled"] = fast_energy.compile_available()
    for n, steps in steps_at.items():
        x0 = torch.randn(n, 2, device=device)
        eager = Sampler(SamplerConfig(step_size=0.01), box=4.5)
        gen = torch.Generator(device=device).manual_seed(0)
        runs = {
            "ours": lambda: eager.run(model, x0, steps, gen),  # the default: what the studio runs
            "ours_compiled": lambda: compiled.run(model, x0, steps, gen),
            "plain": lambda: plain_langevin(model, x0, steps, 0.01, gen),
        }
        if te is not None:
            runs["torchebm"] = lambda: te.sample(x=x0.clone(), n_steps=steps, generator=gen)
        # Interleave the contenders, repeat by repeat, so that a busy moment of a shared
        # machine hits all of them alike; median per contender.
        times: dict[str, list[float]] = {k: [] for k in runs}
        for fn in runs.values():
            fn()  # warm-up
        for _ in range(repeats):
            for k, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        rate = {k: n * steps / statistics.median(v) for k, v in times.items()}
        out[str(n)] = {
            "ours": rate["ours"],
            "ours_compiled": rate["ours_compiled"],
            "plain": rate["plain"],
            "torchebm": rate.get("torchebm"),
            "peak_fraction": rate["ours"] * flops_step / peak,
        }
    return out


def bench_train(quick: bool, device: torch.device, base: Config | None = None) -> dict:
    steps = 10 if quick else 40
    out = {}
    for name in ("mcmc", "nce", "fce", "sm", "dsm", "ssm", "snl"):
        cfg = (base or Config()).with_value("objective.name", name)
        cfg = cfg.with_value("train.device", device.type)
        cfg = cfg.with_value("train.eval_every", 10**6).with_value("objective.flow_pretrain", 0)
        try:
            t = Trainer(cfg)
        except Exception as e:
            print(f"train.{name}: {e}", file=sys.stderr)
            out[name] = None
            continue
        t.train(3)
        out[name] = steps / median_time(lambda t=t: t.train(steps), 3)
    return out


def bench_grid(quick: bool, device: torch.device) -> dict:
    model = build_model(ModelConfig()).to(device)
    out = {}
    peak = matmul_peak(device)
    for res in (200, 512):
        ms = 1000 * median_time(lambda r=res: energy_grid(model, 4.5, r, device), 5)
        limit_ms = 1000 * res * res * mlp_flops_per_eval(ModelConfig()) / peak
        out[str(res)] = ms
        out[f"{res}_flop_limit_ms"] = limit_ms
    return out


def bench_gui(quick: bool) -> dict | None:
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import gui_bench  # type: ignore
    except ImportError:
        return None
    return gui_bench.run(quick)


# The gpu section on a CPU (gpu_check.sh --dry-run) checks the code path, not the speed: runs
# this small take a fraction of a second even on a loaded 2-core machine.
DRY_RUN_SIZES = (
    ("model.width", 16),
    ("model.depth", 2),
    ("sampler.n_chains", 32),
    ("buffer.size", 64),
    ("train.batch_size", 32),
    ("data.n_train", 500),
    ("data.n_test", 200),
    ("objective.proposal_samples", 64),
)


def shrink(cfg: Config) -> Config:
    for key, value in DRY_RUN_SIZES:
        cfg = cfg.with_value(key, value)
    return cfg


def bench_gpu(quick: bool, device: str = "cuda", n: int = 1_000_000) -> dict | None:
    """Langevin at ``n`` chains eager and compiled, the fraction of FP32 peak, the train step
    with 20 sampler steps, steps/s of every objective and of buffer-ml in a worker-like thread
    against the CPU. ``device="cpu"`` with a small ``n`` is gpu_check.sh's dry run."""
    if device == "cuda" and not torch.cuda.is_available():
        return None
    dev = torch.device(device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    model = build_model(ModelConfig()).to(dev)
    steps = 20
    small = shrink(Config())
    x0 = torch.randn(n, 2, device=dev)
    gen = torch.Generator(device=dev).manual_seed(0)
    rates = {}
    # Compiling on a CPU takes minutes and is slower there (config.py): GPU only.
    variants = (("eager", False), ("compiled", True)) if dev.type == "cuda" else (("eager", False),)
    for name, compiled in variants:
        sampler = Sampler(SamplerConfig(step_size=0.01, compile=compiled), box=4.5)

        def run(sampler=sampler):
            sampler.run(model, x0, steps, gen, block=n)
            sync()

        rates[name] = n * steps / median_time(run, 3)
    rate = max(rates.values())
    peak = matmul_peak(dev)
    base = small if dev.type == "cpu" else Config()
    cfg = base.with_value("train.device", device).with_value("train.eval_every", 10**6)
    t = Trainer(cfg)
    t.train(5)

    def train():
        t.train(20)
        sync()

    out = {
        "chains": n,
        "chain_steps_per_s_1M": rate,
        "chain_steps_per_s_1M_eager": rates["eager"],
        "chain_steps_per_s_1M_compiled": rates.get("compiled"),
        "peak_fraction": rate * 2 * mlp_flops_per_eval(ModelConfig()) / peak,
        "train_step_ms": 1000 * median_time(train, 3) / 20,
        "train_steps_per_s": bench_train(quick, dev, small if dev.type == "cpu" else None),
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
    }
    # The studio's worker on buffer-ml: steps/s of its trainer in a thread with the worker's
    # torch thread count, on this device and on the CPU (target: >= 5x on a GPU).
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import gui_bench  # type: ignore

        from ebm_studio.core.presets import load_preset
        from ebm_studio.worker.thread import default_torch_threads
    except ImportError:
        return out
    ml = load_preset("buffer-ml").config.with_value("train.eval_every", 10**6)
    if dev.type == "cpu":
        ml = shrink(ml)
    seconds = 0.5 if dev.type == "cpu" else 2.0 if quick else 8.0
    rates = {
        d: gui_bench.headless_steps_per_s(
            ml.with_value("train.device", d), seconds, default_torch_threads()
        )
        for d in dict.fromkeys((device, "cpu"))
    }
    out["worker_buffer_ml_steps_per_s"] = rates[device]
    out["worker_buffer_ml_vs_cpu"] = rates[device] / rates["cpu"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--only", default="langevin,train,grid,gui,gpu")
    ap.add_argument("--gpu-device", default="cuda", help="the gpu section's device (cpu: dry run)")
    ap.add_argument("--gpu-chains", type=int, default=1_000_000, help="the gpu section's chains")
    args = ap.parse_args()
    dev = torch.device("cpu")
    want = set(args.only.split(","))
    res: dict = {"device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__}
    if "langevin" in want:
        res["langevin"] = bench_langevin(args.quick, dev)
    if "train" in want:
        res["train"] = bench_train(args.quick, dev)
    if "grid" in want:
        res["grid"] = bench_grid(args.quick, dev)
    if "gui" in want:
        res["gui"] = bench_gui(args.quick)
    if "gpu" in want:
        res["gpu"] = bench_gpu(args.quick, args.gpu_device, args.gpu_chains)
    print_table(res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


def print_table(res: dict) -> None:
    lv = res.get("langevin")
    if lv:
        print(f"matmul peak {lv['matmul_peak_gflops']:.1f} GFLOP/s; compiled step: "
              f"{lv['compiled']} (first use {lv['compile_s']:.1f} s)")  # fmt: skip
        print(f"{'chains':>8} {'ours':>9} {'compiled':>9} {'plain':>9} {'torchebm':>9} "
              f"{'ours/plain':>10} {'ours/tebm':>9} {'peak frac':>9}")  # fmt: skip
        for n in ("1000", "10000", "100000"):
            r = lv[n]
            te = "-" if r["torchebm"] is None else f"{r['torchebm'] / 1e6:.2f}M"
            vs_te = "-" if r["torchebm"] is None else f"{r['ours'] / r['torchebm']:.2f}"
            print(f"{n:>8} {r['ours'] / 1e6:>8.2f}M {r['ours_compiled'] / 1e6:>8.2f}M "
                  f"{r['plain'] / 1e6:>8.2f}M {te:>9} {r['ours'] / r['plain']:>10.2f} "
                  f"{vs_te:>9} {r['peak_fraction']:>9.2f}")  # fmt: skip
    if res.get("train"):
        print("train steps/s: " + ", ".join(
            f"{k} {v:.1f}" for k, v in res["train"].items() if v is not None))  # fmt: skip
    if res.get("grid"):
        g = res["grid"]
        print(f"grid 200: {g['200']:.1f} ms (FLOP limit {g['200_flop_limit_ms']:.1f}); "
              f"512: {g['512']:.1f} ms (FLOP limit {g['512_flop_limit_ms']:.1f})")  # fmt: skip
    if res.get("gui"):
        print("gui: " + ", ".join(f"{k} {v:.3g}" for k, v in res["gui"].items()))
    print("gpu:", res.get("gpu"))


if __name__ == "__main__":
    main()
