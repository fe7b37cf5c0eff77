"""``landscape.png`` and ``samples.png`` of a headless run (``ebm-studio train``, sweeps)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .compose import new_figure, save_figure
from .data import RunData, log_density, run_data_from_trainer, title_text
from .panels import draw_landscape, draw_points, draw_true_contours
from .style import DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, style_context


def grid_samples(energy: np.ndarray, box: float, n: int, seed: int = 0) -> np.ndarray:
    """Exact samples of the model's grid density: a cell by its probability, then uniform
    within the cell."""
    rng = np.random.default_rng(seed)
    res = energy.shape[-1]
    p = np.exp(log_density(energy, box)).reshape(-1)
    idx = rng.choice(p.size, size=n, p=p / p.sum())
    h = 2 * box / res
    xy = np.stack([idx % res, idx // res], 1) * h - box
    return xy + rng.random((n, 2)) * h


def landscape_figure(run: RunData, style: str = "paper"):
    with style_context(style):
        fig = new_figure(SINGLE_COLUMN_IN, SINGLE_COLUMN_IN * 0.9)
        ax = fig.add_subplot()
        draw_landscape(ax, run.energy, run.box, "density")
        if run.true_log_p is not None:
            draw_true_contours(ax, run.true_log_p, run.box)
        fig.suptitle(title_text(run), fontsize=5.5)
    fig.ebm_style = style
    return fig


def samples_figure(run: RunData, samples: int = 20000, style: str = "paper"):
    """Data | exact samples of the model's grid density | the training chains (if any)."""
    parts = [("data", run.data), ("model (exact grid samples)", None)]
    if run.chains is not None:
        parts.append(("training chains", run.chains))
    with style_context(style):
        n = len(parts)
        fig = new_figure(DOUBLE_COLUMN_IN, DOUBLE_COLUMN_IN / n * 0.95 + 0.3)
        axes = fig.subplots(1, n, sharex=True, sharey=True)
        for ax, (name, pts) in zip(axes, parts):
            if pts is None:
                pts = grid_samples(run.energy, run.box, samples)
            draw_points(ax, pts, run.box)
            ax.set_title(f"{name} ({len(pts)})")
            ax.set_xlabel("$x_1$")
        axes[0].set_ylabel("$x_2$")
        fig.suptitle(title_text(run))
    fig.ebm_style = style
    return fig


def write_run_figures(
    trainer, out: str | os.PathLike, samples: int = 20000, preset: str = ""
) -> None:
    """``landscape.png`` (the model density) and ``samples.png`` into the folder ``out``."""
    out = Path(out)
    run = run_data_from_trainer(trainer, 256, preset)
    save_figure(landscape_figure(run), out / "landscape.png")
    save_figure(samples_figure(run, samples), out / "samples.png")


__all__ = ["grid_samples", "landscape_figure", "samples_figure", "write_run_figures"]
