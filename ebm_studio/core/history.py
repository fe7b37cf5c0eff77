"""The metric history of a run and its CSV form (``metrics.csv``, the studio's export)."""

from __future__ import annotations

import csv
import io


def metrics_csv(history: list[dict[str, float]]) -> str:
    """One row per logged step, one column per metric (``step`` first, then sorted); an empty
    cell where a metric was not computed at that step."""
    cols = ["step"] + sorted({k for r in history for k in r} - {"step"})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in history:
        w.writerow(["" if c not in r else _num(r[c]) for c in cols])
    return buf.getvalue()


def _num(v: float) -> str:
    # Integers (steps, counts) without ".0"; everything else round-trips exactly (repr).
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


__all__ = ["metrics_csv"]
