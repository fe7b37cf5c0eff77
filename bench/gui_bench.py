"""GUI benchmark: frame times, the worker's speed with the GUI live, input latency.

    python bench/gui_bench.py [--quick]

One run measures, with 10k chains and a 200x200 heatmap grid (the targets: p95 frame time
<= 20 ms, worker speed with the GUI live >= 0.8 of headless):

- ``p50_frame_ms`` / ``p95_frame_ms``: from a snapshot's arrival in the GUI thread to the end
  of the landscape's repaint (``*_frame_cpu_ms``: the GUI thread's CPU time in that span; the
  rest is waiting for the GIL or for a core);
- ``worker_fraction``: training steps/s in the worker while the window draws every frame,
  divided by steps/s of the same trainer headless in a plain thread with the same torch
  thread count (headless is measured before and after the GUI run and averaged, because the
  machine may be shared);
- ``event_latency_p95_ms``: delay from posting an event to its handling in the GUI thread,
  events posted every 20 ms from another thread (what a mouse move waits while training);
- ``draw_100k_fps``: frames/s at which the landscape view shows 100k moving chains (a new
  chain set every frame, each frame repainted), the drawing side of sample mode at 100k chains
  (target >= 30).

Prints the numbers and returns them; ``bench/run.py`` calls ``run(quick)``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ebm_studio.core.config import Config  # noqa: E402
from ebm_studio.core.trainer import Trainer  # noqa: E402
from ebm_studio.worker.thread import default_torch_threads  # noqa: E402

N_CHAINS = 10_000
GRID = 200


def bench_config() -> Config:
    """The default replay-buffer run with 10k chains and a 200x200 grid."""
    cfg = Config()
    for key, value in (
        ("sampler.n_chains", N_CHAINS),
        ("buffer.size", N_CHAINS),
        ("view.resolution", GRID),
        ("view.fps", 30),
    ):
        cfg = cfg.with_value(key, value)
    return cfg


def headless_steps_per_s(cfg: Config, seconds: float, threads: int, warmup: int = 3) -> float:
    """Steps/s of a bare Trainer in its own thread (as the worker runs it, without a GUI)."""
    out: dict[str, float] = {}

    def work() -> None:
        torch.set_num_threads(threads)
        trainer = Trainer(cfg)
        for _ in range(warmup):
            trainer.step()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            trainer.step()
            n += 1
        out["rate"] = n / (time.perf_counter() - t0)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return out["rate"]


def gui_run(cfg: Config, seconds: float, threads: int, warmup_s: float) -> dict[str, float]:
    """Train with the window live; returns worker steps/s, frame times and event latency."""
    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from ebm_studio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    latency_type = QEvent.Type(QEvent.registerEventType())

    class Probe(QEvent):
        def __init__(self, posted: float) -> None:
            super().__init__(latency_type)
            self.posted = posted

    latencies: list[float] = []
    measuring = threading.Event()

    class Receiver(QObject):
        def event(self, ev) -> bool:  # Qt override
            if ev.type() == latency_type:
                if measuring.is_set():
                    latencies.append(1000 * (time.perf_counter() - ev.posted))
                return True
            return super().event(ev)

    receiver = Receiver()
    stop_posting = threading.Event()

    def post_events() -> None:
        while not stop_posting.wait(0.02):
            QCoreApplication.postEvent(receiver, Probe(time.perf_counter()))

    window = MainWindow(cfg, torch_threads=threads)
    window.resize(1500, 950)
    window.show()
    marks: dict[str, tuple[float, int]] = {}

    def mark(name: str) -> None:
        # The worker's own clock and step count at its latest frame.
        frame = window.last_frame
        marks[name] = (frame.info.emitted_at, frame.step)

    def begin() -> None:
        mark("start")
        window.frame_times_ms.clear()
        window.frame_cpu_ms.clear()
        measuring.set()
        QTimer.singleShot(int(seconds * 1000), end)

    def end() -> None:
        measuring.clear()
        mark("end")
        app.quit()

    def start_training() -> None:
        window.controller.play()
        QTimer.singleShot(int(warmup_s * 1000), begin)

    poster = threading.Thread(target=post_events, daemon=True)
    poster.start()

    def wait_ready() -> None:
        """Play once the first frame shows that the run is built."""
        if window.last_snapshot is None:
            QTimer.singleShot(50, wait_ready)
        else:
            start_training()

    QTimer.singleShot(0, wait_ready)
    app.exec()
    stop_posting.set()
    poster.join()
    frame_ms = np.array(window.frame_times_ms)
    cpu_ms = np.array(window.frame_cpu_ms)
    window.close()
    (t0, s0), (t1, s1) = marks["start"], marks["end"]
    return {
        "steps_per_s": (s1 - s0) / (t1 - t0),
        "frames": float(len(frame_ms)),
        "fps": len(frame_ms) / seconds,
        "p50_frame_ms": float(np.percentile(frame_ms, 50)),
        "p95_frame_ms": float(np.percentile(frame_ms, 95)),
        "p50_frame_cpu_ms": float(np.percentile(cpu_ms, 50)),
        "p95_frame_cpu_ms": float(np.percentile(cpu_ms, 95)),
        "event_latency_p50_ms": float(np.percentile(latencies, 50)),
        "event_latency_p95_ms": float(np.percentile(latencies, 95)),
    }


def draw_fps(n_chains: int = 100_000, frames: int = 60) -> float:
    """Frames/s of the landscape view drawing ``n_chains`` chains that move every frame."""
    from PySide6.QtWidgets import QApplication

    from ebm_studio.core.frames import Snapshot
    from ebm_studio.gui.landscape import LandscapeView

    app = QApplication.instance() or QApplication([])
    view = LandscapeView()
    view.resize(900, 900)
    view.show()
    rng = np.random.default_rng(0)
    energy = rng.standard_normal((GRID, GRID)).astype(np.float32)
    x = rng.standard_normal((n_chains, 2)).astype(np.float32)
    view.show_snapshot(Snapshot(0, 4.5, energy, None, x, None, None, None))
    app.processEvents()
    t0 = time.perf_counter()
    for i in range(frames):
        x = x + 0.01 * rng.standard_normal(x.shape).astype(np.float32)
        view.show_snapshot(Snapshot(i + 1, 4.5, None, None, x, None, None, None))
        view.repaint()
        app.processEvents()
    fps = frames / (time.perf_counter() - t0)
    view.close()
    return fps


def run(quick: bool = False) -> dict[str, float]:
    """Measure everything in one run; print and return the numbers."""
    cfg = bench_config()
    threads = default_torch_threads()
    head_s, gui_s, warm_s = (8.0, 16.0, 3.0) if quick else (15.0, 30.0, 5.0)
    before = headless_steps_per_s(cfg, head_s, threads)
    live = gui_run(cfg, gui_s, threads, warm_s)
    after = headless_steps_per_s(cfg, head_s, threads)
    headless = (before + after) / 2
    fps_100k = draw_fps(frames=30 if quick else 90)
    out = {
        "p50_frame_ms": live["p50_frame_ms"],
        "p95_frame_ms": live["p95_frame_ms"],
        "worker_fraction": live["steps_per_s"] / headless,
        "event_latency_p95_ms": live["event_latency_p95_ms"],
        "event_latency_p50_ms": live["event_latency_p50_ms"],
        "p50_frame_cpu_ms": live["p50_frame_cpu_ms"],
        "p95_frame_cpu_ms": live["p95_frame_cpu_ms"],
        "fps": live["fps"],
        "draw_100k_fps": fps_100k,
        "headless_steps_per_s": headless,
        "gui_steps_per_s": live["steps_per_s"],
        # Other processes on the machine move every number here; report what they were.
        "load_avg_1min": os.getloadavg()[0],
    }
    print(
        f"gui bench ({N_CHAINS} chains, {GRID}x{GRID} grid, {threads} torch thread(s), "
        f"{os.environ.get('QT_QPA_PLATFORM', 'native')} platform, load average "
        f"{out['load_avg_1min']:.1f} on {os.cpu_count()} cores)\n"
        f"  frame time p50 {out['p50_frame_ms']:.1f} ms, p95 {out['p95_frame_ms']:.1f} ms "
        f"(target p95 <= 20), {out['fps']:.1f} frames/s; GUI-thread CPU per frame "
        f"p50 {out['p50_frame_cpu_ms']:.1f} ms, p95 {out['p95_frame_cpu_ms']:.1f} ms\n"
        f"  worker {live['steps_per_s']:.2f} steps/s with GUI vs {headless:.2f} headless "
        f"(before {before:.2f}, after {after:.2f}): fraction {out['worker_fraction']:.2f} "
        f"(target >= 0.8)\n"
        f"  input event latency p50 {out['event_latency_p50_ms']:.1f} ms, "
        f"p95 {out['event_latency_p95_ms']:.1f} ms\n"
        f"  100k chains drawn at {fps_100k:.1f} frames/s (target >= 30)"
    )
    return out


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
