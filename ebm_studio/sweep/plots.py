"""``sweep.pdf`` / ``sweep.png``: final KL (log scale) against each swept value with the seed
spread, and small multiples of the trials' final landscapes. Drawn with the figures module
(``core.figures``: paper style, ``draw_landscape`` on one shared colour scale), on a Figure
with the Agg canvas (no pyplot, no Qt), so sweep figures match the other exports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .results import trial_dir
from .spec import SweepSpec, format_value

MAX_THUMBS = 48  # small multiples beyond this are unreadable on one page
THUMB_RES = 96  # grid cells per side of a thumbnail: a 1.5 in panel shows no more
QUANTITY = "density"


def trial_energy(out: Path, tid: str) -> tuple[np.ndarray, float] | None:
    """A finished trial's (energy grid, box) from its checkpoint, or None if it has none."""
    from ..core.checkpoint import restore_trainer

    path = trial_dir(out, tid) / "checkpoint.safetensors"
    if not path.exists():
        return None
    trainer = restore_trainer(path, device="cpu")
    return trainer.energy_grid(THUMB_RES), float(trainer.box)


def write_sweep_figures(
    out: Path, spec: SweepSpec, records: dict[str, dict | None], style: str = "paper"
):
    """Write ``sweep.pdf`` and ``sweep.png`` into ``out``; return the Figure (for tests)."""
    from ..core.figures.compose import new_figure, save_figure
    from ..core.figures.data import grid_quantity
    from ..core.figures.panels import draw_landscape, landscape_norm
    from ..core.figures.style import DOUBLE_COLUMN_IN, QUANTITY_LABELS, style_context

    trials = spec.trials()
    ok = [t for t in trials if (records.get(t.id) or {}).get("status") == "ok"]
    n_keys = max(1, len(spec.grids))
    grids = []
    for t in ok:
        if len(grids) == MAX_THUMBS:
            break
        got = trial_energy(out, t.id)
        if got is not None:
            grids.append((t, *got))
    cols = min(8, max(1, len(grids)))
    thumb_rows = math.ceil(len(grids) / cols) if grids else 0
    width = max(DOUBLE_COLUMN_IN, 3.4 * n_keys, 1.1 * cols)
    thumb_h = width / (cols + 0.4) * 1.25  # square panel + its two-line title
    with style_context(style):
        fig = new_figure(width, 2.6 + thumb_h * thumb_rows)
        gs = fig.add_gridspec(
            1 + thumb_rows, max(n_keys, cols), height_ratios=[2.6] + [thumb_h] * thumb_rows
        )
        span = max(n_keys, cols) // n_keys
        for i, (key, values) in enumerate(spec.grids or [("train.seed", tuple(spec.seeds))]):
            ax = fig.add_subplot(gs[0, i * span : (i + 1) * span])
            _kl_panel(ax, key, values, ok, records, spec)
        # one colour scale over every cell, so brightness compares across trials
        norm = landscape_norm([grid_quantity(e, box, QUANTITY) for _, e, box in grids])
        axes = []
        im = None
        for j, (t, energy, box) in enumerate(grids):
            ax = fig.add_subplot(gs[1 + j // cols, j % cols])
            im = draw_landscape(
                ax, energy, box, QUANTITY, norm=norm, colorbar=False, axis_labels=False
            )
            kl = records[t.id]["metrics"].get("kl")
            label = " ".join(format_value(v) for _, v in t.overrides)
            ax.set_title(f"{label} s{t.seed}\nKL {kl:.3g}" if kl is not None else label)
            ax.set_xticks([])
            ax.set_yticks([])
            axes.append(ax)
        if im is not None:
            cb = fig.colorbar(im, ax=axes, fraction=0.046, pad=0.02)
            cb.set_label(QUANTITY_LABELS[QUANTITY])
    fig.ebm_style = style
    for suffix in (".pdf", ".png"):
        save_figure(fig, out / f"sweep{suffix}", dpi=150)
    return fig


def _kl_panel(ax, key: str, values, ok, records, spec: SweepSpec) -> None:
    xs_numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    pos = {repr(v): (v if xs_numeric else i) for i, v in enumerate(values)}
    for t in ok:
        kl = records[t.id]["metrics"].get("kl")
        if kl is None or kl <= 0:
            continue
        v = t.seed if key == "train.seed" else dict(t.overrides)[key]
        ax.scatter([pos[repr(v)]], [kl], s=6, color="0.5", alpha=0.7)
    means: list[tuple[Any, float, float, float]] = []
    for v in values:
        kls = [
            records[t.id]["metrics"]["kl"]
            for t in ok
            if "kl" in records[t.id]["metrics"]
            and (t.seed if key == "train.seed" else dict(t.overrides)[key]) == v
        ]
        kls = [k for k in kls if k > 0]
        if kls:
            m = math.exp(sum(map(math.log, kls)) / len(kls))
            means.append((pos[repr(v)], m, min(kls), max(kls)))
    if means:
        x, m, lo, hi = zip(*means)
        ax.errorbar(
            x,
            m,
            # clamped: exp(mean log) of one value may differ from it in the last bit
            yerr=[
                [max(a - b, 0.0) for a, b in zip(m, lo)],
                [max(c - a, 0.0) for a, c in zip(m, hi)],
            ],
            fmt="o-",
            color="#d62728",
            capsize=3,
            label="geometric mean, min-max over seeds",
        )
        ax.legend()
    from ..core.figures.panels import log_axis

    log_axis(ax)  # plain numbers on the log scale, as the other KL curves
    if xs_numeric and all(v > 0 for v in values) and max(values) / min(values) >= 20:
        ax.set_xscale("log")
    if not xs_numeric:
        ax.set_xticks(range(len(values)), [format_value(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel("final KL(p_data || p_model)")
