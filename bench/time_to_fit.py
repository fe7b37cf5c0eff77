"""Time to fit: how long until each 2D preset's landscape is right, headless and in the studio.

    python bench/time_to_fit.py [--quick] [--json FILE] [--presets a,b] [--datasets a,b]
                                [--all-datasets] [--device cpu|cuda] [--no-studio]

For every preset with a documented ``[preset.kl_bound]`` and every dataset it documents (or,
with ``--all-datasets``, every built-in dataset with an exact density), one headless run of the
preset's full length evaluates the exact KL every ``--eval-every`` steps; evaluation time is
not counted. Reported: ``steps`` and ``seconds`` until the KL first reaches the bound and stays
under it to the end, the ``final_kl`` and the ``min_kl``. The bound is the preset's documented
one; on an undocumented dataset the maximum-likelihood-type presets get the 0.05-nat target
(the others none: only their final KL is reported).

``studio_seconds`` is the same point in the studio: the real ``MainWindow`` (offscreen without
a display) on the same config, Play pressed once the run is built, timed until the worker's
frames show that step, as a user would train (its own evaluations, frames and heatmap
included). ``--quick`` evaluates every 100 steps instead of 50 and stops a run 3 evaluations
after it is under its bound (``final_kl`` is then the KL at that point, not at the preset's
length: for development only).

JSON: ``time_to_fit.<preset>.<dataset>.{steps,seconds,studio_seconds,final_kl,...}`` plus
``meta`` (date, machine, load). Timings move with the machine's load: it is recorded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ebm_studio.core.config import Config  # noqa: E402
from ebm_studio.core.overrides import apply_assignments, parse_assignments  # noqa: E402
from ebm_studio.core.presets import Preset, list_presets, load_preset  # noqa: E402
from ebm_studio.core.trainer import Trainer  # noqa: E402
from ebm_studio.worker.thread import default_torch_threads  # noqa: E402

EXACT_DATASETS = (
    "8gaussians",
    "25gaussians",
    "rings",
    "checkerboard",
    "moons",
    "spirals",
    "pinwheel",
    "swissroll",
)
# Maximum-likelihood-type presets: the README's 0.05-nat target on every exact dataset.
ML_PRESETS = ("pcd", "buffer-ml", "nce", "fce", "snl")
ML_TARGET = 0.05


def fit_presets() -> list[str]:
    """The shipped presets that document a KL bound (the experiments' arms do not)."""
    return [p.name for p in list_presets() if p.kl_bound]


def bound_for(preset: Preset, dataset: str) -> float | None:
    if dataset in preset.kl_bound:
        return preset.kl_bound[dataset]
    return ML_TARGET if preset.name in ML_PRESETS else None


def fit_point(evals: list[tuple[int, float, float]], bound: float | None) -> tuple[int, float]:
    """(step, seconds) of the first evaluation from which every KL is <= bound, or NaNs."""
    if bound is None:
        return -1, math.nan
    point = (-1, math.nan)
    for step, seconds, kl in reversed(evals):
        if not kl <= bound:
            break
        point = (step, seconds)
    return point


def headless(
    cfg: Config, bound: float | None, eval_every: int, quick: bool, bar: tqdm
) -> dict[str, float]:
    """Train ``cfg`` for ``train.steps``; the KL is evaluated every ``eval_every`` steps by the
    bench itself (the trainer's own evaluations are switched off), untimed."""
    steps = cfg.train.steps
    cfg = cfg.with_value("train.eval_every", 1_000_000)
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    setup = time.perf_counter() - t0
    train_s = 0.0
    evals: list[tuple[int, float, float]] = []
    under = 0
    for i in range(1, steps + 1):
        t0 = time.perf_counter()
        trainer.step()
        train_s += time.perf_counter() - t0
        bar.update(1)
        if i % eval_every == 0 or i == steps:
            kl = trainer.evaluate()["kl"]
            evals.append((i, train_s, kl))
            bar.set_postfix(kl=f"{kl:.3f}")
            under = under + 1 if bound is not None and kl <= bound else 0
            if quick and under >= 3:
                bar.update(steps - i)
                break
    step, seconds = fit_point(evals, bound)
    return {
        "bound": math.nan if bound is None else bound,
        "steps": step,
        "seconds": seconds,
        "final_kl": evals[-1][2],
        "min_kl": min(kl for _, _, kl in evals),
        "trained_steps": evals[-1][0],
        "train_seconds": train_s,
        "setup_seconds": setup,
        "steps_per_s": evals[-1][0] / train_s,
    }


def studio_seconds(cfg: Config, target_step: int, timeout_s: float) -> float:
    """Seconds from Play to the first frame at ``target_step`` in the real main window."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ebm_studio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    # A local loop, not app.exec()/app.quit(): quitting the application would also end the
    # event loops of whatever else shares this QApplication (a test session's later tests).
    loop = QEventLoop()
    window = MainWindow(cfg)
    window.resize(1500, 950)
    window.show()
    result = {"seconds": math.nan}
    started: dict[str, float] = {}

    def poll() -> None:
        frame = window.last_frame
        now = time.perf_counter()
        if not started:
            if frame is not None:  # the run is built: press Play
                started["t"] = now
                window.controller.play()
        elif frame is not None and frame.step >= target_step:
            result["seconds"] = now - started["t"]
            loop.quit()
            return
        elif now - started["t"] > timeout_s:
            loop.quit()
            return
        QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)
    loop.exec()
    window.controller.pause()
    window.close()
    app.processEvents()
    return result["seconds"]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="coarser evaluations, early stop")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--presets", help="comma-separated preset names (default: all 2D fits)")
    ap.add_argument("--datasets", help="comma-separated datasets (default: each documented)")
    ap.add_argument("--all-datasets", action="store_true", help="all 8 exact datasets")
    ap.add_argument("--eval-every", type=int, help="KL evaluation period (default 50, quick 100)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--no-studio", action="store_true", help="headless only")
    ap.add_argument("--bound", type=float, help="one KL bound for every run (tests, what-ifs)")
    ap.add_argument("--set", action="append", default=[], help="key=value for every run")
    ap.add_argument(
        "--threads", type=int, help="torch threads (default: the studio worker's count)"
    )
    args = ap.parse_args(argv)
    # Headless with the studio worker's thread count: the two columns then differ by the GUI
    # alone (and on a loaded machine fewer threads oversubscribe the cores less).
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or default_torch_threads())
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> dict:
    eval_every = args.eval_every or (100 if args.quick else 50)
    names = args.presets.split(",") if args.presets else fit_presets()
    jobs = []
    for name in names:
        preset = load_preset(name)
        if args.datasets:
            datasets = args.datasets.split(",")
        elif args.all_datasets:
            datasets = list(EXACT_DATASETS)
        else:
            datasets = [d for d in EXACT_DATASETS if d in preset.kl_bound]
        cfg0 = apply_assignments(preset.config, parse_assignments(args.set))
        jobs += [(preset, cfg0, d) for d in datasets]
    total = sum(cfg.train.steps for _, cfg, _ in jobs)
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "load_avg_1min_start": os.getloadavg()[0],
        "eval_every": eval_every,
        "quick": args.quick,
    }
    out = {"time_to_fit": results, "meta": meta}
    bar = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=1.0)
    for preset, cfg0, dataset in jobs:
        bar.set_description(f"{preset.name} {dataset}")
        cfg = cfg0.with_value("data.name", dataset).with_value("train.device", args.device)
        bound = args.bound if args.bound is not None else bound_for(preset, dataset)
        r: dict[str, float | None] = dict(headless(cfg, bound, eval_every, args.quick, bar))
        r["studio_seconds"] = math.nan
        if not args.no_studio and r["steps"] > 0:
            bar.set_description(f"{preset.name} {dataset} (studio)")
            timeout = max(60.0, 5 * float(r["seconds"]))
            r["studio_seconds"] = studio_seconds(cfg, int(r["steps"]), timeout)
        r["load_avg_1min"] = os.getloadavg()[0]
        # JSON has no NaN: null marks "not reached" / "no bound" / "not measured".
        results.setdefault(preset.name, {})[dataset] = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()
        }
        if r["steps"] < 0:
            results[preset.name][dataset]["steps"] = None
        if args.json:  # after every run: a long bench cut short keeps what it measured
            Path(args.json).write_text(json.dumps(out, indent=2))
    bar.close()
    meta["load_avg_1min_end"] = os.getloadavg()[0]
    print_table(results, meta)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


def _fmt(v: float | None, spec: str) -> str:
    width = int(spec.split(".")[0].rstrip("df"))
    return "-".rjust(width) if v is None else format(v, spec)


def print_table(results: dict, meta: dict) -> None:
    print(
        f"time to fit ({meta['device']}, {meta['machine']}, load {meta['load_avg_1min_end']:.1f},"
        f" KL every {meta['eval_every']} steps{', quick' if meta['quick'] else ''})"
    )
    print(
        f"{'preset':<14} {'dataset':<13} {'bound':>6} {'steps':>6} {'seconds':>8} "
        f"{'studio s':>9} {'final KL':>9} {'min KL':>8}"
    )
    for name, per in results.items():
        for dataset, r in per.items():
            print(
                f"{name:<14} {dataset:<13} {_fmt(r['bound'], '6.3f')} {_fmt(r['steps'], '6d')} "
                f"{_fmt(r['seconds'], '8.1f')} {_fmt(r['studio_seconds'], '9.1f')} "
                f"{r['final_kl']:9.4f} {r['min_kl']:8.4f}"
            )


if __name__ == "__main__":
    main()
