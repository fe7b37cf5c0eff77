"""Figure benchmark: how long animations and publication figures take to write.

    python bench/figures_bench.py [--quick]

- ``gif_200x2000_s``: a 200-frame GIF of 2000 moving chains through ``AxesFrame`` (the axes,
  ticks and colour bar rendered once by matplotlib, each frame only composites the points)
  plus the GIF encoding, the path ``ebm-studio sample`` takes (target < 20 s on 2 cores);
- ``mpl_frame_ms``: one frame rendered by matplotlib in full (figure with landscape, colour
  bar and a scatter of 2000 chains), the alternative the pre-rendered frame replaces;
- ``mp4_200x2000_s``: the same 200 frames as MP4 (when imageio-ffmpeg is installed);
- ``pdf_figure_s``: a three-panel publication figure saved as PDF.

Sampling is not included (random walks stand in for chains): this measures drawing only.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ebm_studio.core.figures import (
    AxesFrame,
    RunData,
    draw_landscape,
    draw_points,
    new_figure,
    run_figure,
    save_figure,
    write_animation,
)


def _energy(res: int = 200, box: float = 4.5) -> np.ndarray:
    c = np.linspace(-box, box, res)
    xx, yy = np.meshgrid(c, c)
    r = np.hypot(xx, yy)
    return (r - 2.0) ** 2 * 4.0


def run(quick: bool = False) -> dict[str, float]:
    frames_n = 40 if quick else 200
    chains = 2000
    box = 4.5
    energy = _energy()
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        axes = AxesFrame(energy, box, title=f"langevin, {chains} chains")
        x = rng.uniform(-box, box, (chains, 2))
        frames = []
        for _ in range(frames_n):
            x = np.clip(x + 0.05 * rng.normal(size=x.shape), -box, box)
            frames.append(axes.frame(x))
        write_animation(frames, Path(d) / "a.gif", fps=15)
        out[f"gif_{frames_n}x{chains}_s"] = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            write_animation(frames, Path(d) / "a.mp4", fps=15)
            out[f"mp4_{frames_n}x{chains}_s"] = time.perf_counter() - t0
        except ValueError:
            pass
        times = []
        for _ in range(3 if quick else 10):
            t0 = time.perf_counter()
            fig = new_figure(3.35, 3.0)
            ax = fig.add_subplot()
            draw_landscape(ax, energy, box)
            draw_points(ax, x, box, over_landscape=True)
            fig.set_dpi(150)
            fig.canvas.draw()
            np.asarray(fig.canvas.buffer_rgba())
            times.append(time.perf_counter() - t0)
        out["mpl_frame_ms"] = 1000 * float(np.median(times))
        hist = [
            {"step": float(s), "kl": 5.0 / (1 + s / 50), "nll": 3.0} for s in range(0, 1000, 50)
        ]
        run_data = RunData(box=box, energy=energy, chains=x, history=hist, step=1000)
        t0 = time.perf_counter()
        save_figure(run_figure(run_data), Path(d) / "f.pdf")
        out["pdf_figure_s"] = time.perf_counter() - t0
    for k, v in out.items():
        print(f"{k:>22}  {v:.3f}")
    return out


if __name__ == "__main__":
    run("--quick" in sys.argv)
