"""``sweep.pdf`` / ``sweep.png``: final KL (log scale) against each swept value with the seed
spread, and small multiples of the trials' final landscapes. Matplotlib with Agg, no Qt."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .results import trial_dir
from .spec import SweepSpec, format_value

MAX_THUMBS = 48  # small multiples beyond this are unreadable on one page


def write_sweep_figures(out: Path, spec: SweepSpec, records: dict[str, dict | None]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    trials = spec.trials()
    ok = [t for t in trials if (records.get(t.id) or {}).get("status") == "ok"]
    n_keys = max(1, len(spec.grids))
    thumbs = [t for t in ok if (trial_dir(out, t.id) / "landscape.png").exists()][:MAX_THUMBS]
    cols = min(8, max(1, len(thumbs)))
    thumb_rows = math.ceil(len(thumbs) / cols) if thumbs else 0
    width = max(4.5 * n_keys, 1.5 * cols)
    fig = Figure(figsize=(width, 3.4 + 1.9 * thumb_rows), layout="constrained")
    gs = fig.add_gridspec(
        1 + thumb_rows, max(n_keys, cols), height_ratios=[3.0] + [1.9] * thumb_rows
    )
    span = max(n_keys, cols) // n_keys
    for i, (key, values) in enumerate(spec.grids or [("train.seed", tuple(spec.seeds))]):
        ax = fig.add_subplot(gs[0, i * span : (i + 1) * span])
        _kl_panel(ax, key, values, ok, records, spec)
    for j, t in enumerate(thumbs):
        ax = fig.add_subplot(gs[1 + j // cols, j % cols])
        ax.imshow(plt.imread(trial_dir(out, t.id) / "landscape.png"))
        kl = records[t.id]["metrics"].get("kl")
        label = " ".join(format_value(v) for _, v in t.overrides)
        ax.set_title(f"{label} s{t.seed}\nKL {kl:.3g}" if kl is not None else label, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for suffix in (".pdf", ".png"):
        tmp = out / f".sweep.tmp{suffix}"
        fig.savefig(tmp, dpi=110)
        tmp.replace(out / f"sweep{suffix}")


def _kl_panel(ax, key: str, values, ok, records, spec: SweepSpec) -> None:
    xs_numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    pos = {repr(v): (v if xs_numeric else i) for i, v in enumerate(values)}
    for t in ok:
        kl = records[t.id]["metrics"].get("kl")
        if kl is None or kl <= 0:
            continue
        v = t.seed if key == "train.seed" else dict(t.overrides)[key]
        ax.scatter([pos[repr(v)]], [kl], s=10, color="0.5", alpha=0.7)
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
            yerr=[[a - b for a, b in zip(m, lo)], [c - a for a, c in zip(m, hi)]],
            fmt="o-",
            color="#d62728",
            capsize=3,
            label="geometric mean, min-max over seeds",
        )
        ax.legend(fontsize=7)
    ax.set_yscale("log")
    if xs_numeric and all(v > 0 for v in values) and max(values) / min(values) >= 20:
        ax.set_xscale("log")
    if not xs_numeric:
        ax.set_xticks(range(len(values)), [format_value(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel("final KL(p_data || p_model)")
