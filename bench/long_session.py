"""Long-session benchmark: memory per training step and curve redraw time at a million steps.

    python bench/long_session.py [--steps 1000000] [--json FILE] [--studio-minutes 10]

Two parts:

1. The real metric store and the real curves panel (offscreen): ``--steps`` synthetic rows of
   the PCD preset's metrics (15 per step, the evaluation metrics every 100 steps) are fed as
   the studio feeds them, a frame's rows at a time; the panel redraws as its timer would.
   Reports ``long_session.bytes_per_step`` (the store's and the reductions' allocated bytes
   per step, capacity included), ``bytes_per_step_used`` (the rows in use only),
   ``rss_growth_mb`` (resident memory, end minus start), ``redraw_ms_p95_at_start`` (redraws
   over the first 2000 steps) and ``redraw_ms_p95_at_end`` (redraws after ``--steps``). A
   redraw is ``CurvesPanel.redraw`` plus a synchronous repaint of the panel.
2. The real studio (``MainWindow``, PCD preset) trained offscreen for ``--studio-minutes``
   with its resident memory read every second, in a child process so part 1's memory is not
   counted. Each 30 s window gives its lowest reading, what stayed resident: a heatmap's or an
   evaluation's few MB of activations live at one reading are working set, not growth.
   ``long_session.studio_rss_slope_mb_per_hour`` (least-squares slope of the window lows after
   the first; ``studio_rss_slope_at_samples_after_warmup_mb_per_hour``: of single readings),
   ``studio_rss_bytes_per_step`` (the same against the step count), ``studio_steps`` and
   ``studio_steps_per_s`` (``--studio-minutes 0`` skips it; ``--studio-preset``, default
   ``pcd``). The first minutes fill the bounded buffers (5,000 frame timings, the health
   windows, the trails) and the allocators' pools, so the slope is also given from
   ``--studio-warmup-minutes`` on (``studio_rss_slope_after_warmup_mb_per_hour``), split into
   the metric history's share (``studio_history_slope_mb_per_hour``: the rows in use of the
   trainer's history, which the curves read without a copy) and the rest
   (``studio_rss_slope_other_mb_per_hour``: resident memory minus the history).

Targets: under 150 bytes per step, redraw p95 at the end within 1.5x of the start, studio
resident memory slope under 20 MB per hour. The resident memory steps by a few MB now and then
in the first 10,000-20,000 steps, so a 10-minute slope says whether a step fell in it; the
README's hourly figure is from ``--studio-minutes 60``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

DENSE = [
    "acceptance",
    "e_neg",
    "e_pos",
    "gap",
    "grad_norm",
    "loss",
    "lr",
    "reg",
    "reinit_data",
    "reinit_noise",
    "sampler_energy",
    "sampler_grad",
    "sampler_step",
    "steps_per_s",
]
EVALS = ("kl", "log_z_grid", "mmd", "nll")
EVAL_EVERY = 100
ROWS_PER_FRAME = 2  # ~45 steps/s shown at ~30 frames/s
REDRAW_EVERY = 10  # frames between redraws: the panel redraws at 5 Hz, frames come at ~30-60 Hz
WINDOW = 2000  # steps over which the redraw times at the start and at the end are taken
SAMPLE_S = 30.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_mb() -> tuple[float, float, float]:
    """glibc's heap: (bytes in use, free bytes kept in the arenas, mmapped blocks) in MB, or
    NaNs where mallinfo2 (glibc >= 2.33) is missing. What separates memory the process still
    holds from free pages the allocator has not given back."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return float("nan"), float("nan"), float("nan")
    return m.uordblks / 2**20, m.fordblks / 2**20, m.hblkhd / 2**20


def synthetic_rows(start: int, n: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """``n`` rows from step ``start`` on: random-walk metrics, evaluations every 100 steps."""
    values = np.cumsum(rng.normal(0, 0.01, (n, len(DENSE) + len(EVALS))), 0)
    rows = []
    for i in range(n):
        step = start + i
        row = {"step": float(step), **dict(zip(DENSE, map(float, values[i, : len(DENSE)])))}
        if step % EVAL_EVERY == 0:
            row.update(zip(EVALS, map(float, values[i, len(DENSE) :])))
        rows.append(row)
    return rows


def store_and_panel(steps: int, progress: bool = True) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from ebm_studio.gui.curves import CurvesPanel

    app = QApplication.instance() or QApplication([])
    panel = CurvesPanel()
    panel.resize(1400, 320)
    panel.show()
    app.processEvents()
    rng = np.random.default_rng(0)

    def timed_redraw() -> float:
        t0 = time.perf_counter()
        panel.redraw()
        panel.repaint()
        return 1000 * (time.perf_counter() - t0)

    def feed(start: int, n: int, measure: bool) -> list[float]:
        times = []
        for f, i in enumerate(range(start, start + n, ROWS_PER_FRAME)):
            for row in synthetic_rows(i, min(ROWS_PER_FRAME, start + n - i), rng):
                panel.add_row(row)
            if measure and f % REDRAW_EVERY == 0:
                times.append(timed_redraw())
        return times

    rss0 = rss_mb()
    start_ms = feed(1, WINDOW, measure=True)
    step, chunk = 1 + WINDOW, 50_000
    t0 = time.perf_counter()
    while step < 1 + steps - WINDOW:
        n = min(chunk, 1 + steps - WINDOW - step)
        for row in synthetic_rows(step, n, rng):
            panel.add_row(row)
        step += n
        timed_redraw()  # keeps the reductions current, as the timer would
        if progress:
            done = (step - 1) / steps
            rate = (step - 1 - WINDOW) / (time.perf_counter() - t0)
            print(f"\r  store: {done:6.1%} of {steps:,} steps ({rate:,.0f} rows/s)", end="")
    if progress:
        print()
    end_ms = feed(step, 1 + steps - step, measure=True)
    history = panel.data.history
    pyramid_bytes = panel.data.reduction_nbytes()
    used = sum(v.nbytes for v in history.to_arrays().values())
    n = len(history)
    out = {
        "steps": float(n),
        "bytes_per_step": (history.nbytes() + pyramid_bytes) / n,
        "bytes_per_step_used": (used + pyramid_bytes) / n,
        "rss_growth_mb": rss_mb() - rss0,
        "redraw_ms_p95_at_start": float(np.percentile(start_ms, 95)),
        "redraw_ms_p95_at_end": float(np.percentile(end_ms, 95)),
        "redraw_ms_p50_at_start": float(np.percentile(start_ms, 50)),
        "redraw_ms_p50_at_end": float(np.percentile(end_ms, 50)),
    }
    panel.close()
    return out


def history_used_mb(history) -> float:
    """The rows in use of a ``History`` (each column's item size per row): about what of it is
    resident, for a doubled column's unused tail is not written, so mostly not paged in."""
    used = sum(t.n * c.itemsize for t in (history.dense, history.evals) for c in t.cols.values())
    return (used + history.evals.n * 8) / 2**20


def slope_per_hour(t_s: np.ndarray, mb: np.ndarray) -> float:
    return float(np.polyfit(t_s / 3600, mb, 1)[0]) if len(t_s) >= 2 else float("nan")


def studio(minutes: float, preset: str, warmup_minutes: float = 2.0) -> dict[str, float]:
    """The studio trained offscreen; RSS sampled every 30 s."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ebm_studio.core.presets import load_preset
    from ebm_studio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(load_preset(preset).config)
    window.resize(1500, 950)
    window.show()
    # (seconds, RSS, step, history in use, window's low RSS, malloc in use, malloc free)
    samples: list[tuple[float, ...]] = []
    t_start = [0.0]
    window_rss: list[float] = []  # this window's readings, one a second

    def poll() -> None:
        window_rss.append(rss_mb())

    def sample() -> None:
        frame = window.last_frame
        history_mb = history_used_mb(window.history)  # the trainer's, which the curves view
        # Its allocated capacity doubles at 1024 x 2^k rows: shows whether a step in the
        # resident memory falls on a doubling.
        capacity_mb = window.history.nbytes() / 2**20
        step = frame.step if frame else 0
        now = rss_mb()
        # The window's lowest reading: what stayed resident, not a heatmap's or an
        # evaluation's few MB of activations that happened to be live at the sample.
        low = min(window_rss + [now])
        window_rss.clear()
        used, free, mapped = malloc_mb()
        samples.append((time.monotonic() - t_start[0], now, step, history_mb, low, used, free))
        print(
            f"  studio: {samples[-1][0]:5.0f} s, {now:7.1f} MB (window low {low:7.1f}), "
            f"step {step}, history {history_mb:.1f} MB (capacity {capacity_mb:.1f}); "
            f"malloc in use {used:.1f}, free {free:.1f}, mmapped {mapped:.1f} MB",
            file=sys.stderr,
        )
        if samples[-1][0] >= 60 * minutes - 1:
            app.quit()

    def wait_ready() -> None:
        if window.last_snapshot is None:
            QTimer.singleShot(50, wait_ready)
            return
        window.controller.play()
        t_start[0] = time.monotonic()
        sample()
        timer.start()
        poller.start()

    timer = QTimer()
    timer.setInterval(int(SAMPLE_S * 1000))
    timer.timeout.connect(sample)
    poller = QTimer()
    poller.setInterval(1000)
    poller.timeout.connect(poll)
    QTimer.singleShot(0, wait_ready)
    app.exec()
    capacity_mb = window.history.nbytes() / 2**20
    window.close()
    rows = samples[1:] or samples
    t, mb, steps, hist, low, used, free = (np.array(c, dtype=float) for c in zip(*rows))
    per_step = float(np.polyfit(steps, low, 1)[0]) * 2**20 if len(t) >= 2 else float("nan")
    late = t >= 60 * warmup_minutes
    return {
        "studio_rss_slope_mb_per_hour": slope_per_hour(t, low),
        "studio_rss_slope_after_warmup_mb_per_hour": slope_per_hour(t[late], low[late]),
        "studio_rss_slope_at_samples_after_warmup_mb_per_hour": slope_per_hour(t[late], mb[late]),
        "studio_history_slope_mb_per_hour": slope_per_hour(t[late], hist[late]),
        "studio_rss_slope_other_mb_per_hour": slope_per_hour(t[late], low[late] - hist[late]),
        "studio_history_mb_end": float(hist[-1]),
        "studio_history_capacity_mb_end": capacity_mb,
        # What the process holds against what glibc keeps free but has not given back: a
        # rising RSS with a flat "in use" is fragmentation, not a leak.
        "studio_malloc_in_use_slope_mb_per_hour": slope_per_hour(t[late], used[late]),
        "studio_malloc_free_slope_mb_per_hour": slope_per_hour(t[late], free[late]),
        "studio_rss_bytes_per_step": per_step,
        "studio_steps": float(samples[-1][2]),
        "studio_steps_per_s": samples[-1][2] / max(samples[-1][0], 1e-9),
        "studio_minutes": samples[-1][0] / 60,
        "studio_rss_start_mb": samples[0][1],
        "studio_rss_end_mb": samples[-1][1],
    }


def run(
    steps: int = 1_000_000,
    studio_minutes: float = 10.0,
    preset: str = "pcd",
    warmup_minutes: float = 2.0,
) -> dict[str, float]:
    print(f"long session: {steps:,} synthetic steps through the store and the curves panel")
    out = {f"long_session.{k}": v for k, v in store_and_panel(steps).items()}
    if studio_minutes > 0:
        print(f"long session: the studio ({preset}) trained offscreen for {studio_minutes:g} min")
        cmd = [sys.executable, __file__, "--studio-only", "--studio-minutes", str(studio_minutes)]
        cmd += ["--studio-preset", preset, "--studio-warmup-minutes", str(warmup_minutes)]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        lines = res.stdout.splitlines()
        out.update({f"long_session.{k}": v for k, v in json.loads(lines[-1]).items()})
    for k, v in out.items():
        print(f"  {k:45s} {v:12.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--studio-minutes", type=float, default=10.0)
    ap.add_argument("--studio-preset", default="pcd", help="preset the studio trains")
    ap.add_argument(
        "--studio-warmup-minutes",
        type=float,
        default=2.0,
        help="the studio's slope is also given from this time on",
    )
    ap.add_argument("--studio-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.studio_only:
        out = studio(args.studio_minutes, args.studio_preset, args.studio_warmup_minutes)
        print(json.dumps(out), flush=True)
        return
    if args.steps < 2 * WINDOW + 1:
        ap.error(f"--steps must be at least {2 * WINDOW + 1}")
    out = run(args.steps, args.studio_minutes, args.studio_preset, args.studio_warmup_minutes)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
