"""A sweep folder on disk: trial results (JSON), ``sweep.csv`` and ``summary.csv``.

``DIR/trials/<id>/result.json`` is written last and atomically: a trial with one is complete.
Nothing here unpickles: results are JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

from ..core.atomic import atomic_write_bytes, atomic_write_text
from .spec import Trial, format_value

RESULT = "result.json"
SUMMARY_METRICS = ("kl", "nll", "log_z_error")
ROW_METRICS = ("kl", "nll", "log_z_error", "log_z_grid", "mmd")
# A trial that failed for a reason outside the run (worker died, exception) is run again on
# resume; a divergence is the run's own outcome and is kept.
FINAL_STATUS = ("ok", "diverged")


def trial_dir(out: Path, trial_id: str) -> Path:
    return out / "trials" / trial_id


def write_trial(out: Path, trial: Trial, result: dict[str, Any], attempts: int) -> dict[str, Any]:
    """The trial's files, then its result.json (the completion mark). Returns the record."""
    d = trial_dir(out, trial.id)
    d.mkdir(parents=True, exist_ok=True)
    for name, data in result.get("files", {}).items():
        atomic_write_bytes(d / Path(name).name, data)
    record = {
        "id": trial.id,
        "overrides": [[k, v] for k, v in trial.overrides],
        "seed": trial.seed,
        "status": result["status"],
        "cause": result.get("cause", ""),
        "metrics": result.get("metrics", {}),
        "step": result.get("step", 0),
        "wall_s": result.get("wall_s", float("nan")),
        "attempts": attempts,
        "node": result.get("node", ""),
    }
    atomic_write_text(d / RESULT, json.dumps(record, indent=1))
    return record


def read_record(out: Path, trial_id: str) -> dict[str, Any] | None:
    path = trial_dir(out, trial_id) / RESULT
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return d if isinstance(d, dict) and "status" in d else None


def is_complete(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("status") in FINAL_STATUS


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return format_value(v)


def claim_keys(records: dict[str, dict | None]) -> list[str]:
    """The experiment measurements the trials report beyond ``ROW_METRICS`` (``core.claims``),
    sorted."""
    found = {k for r in records.values() if r for k in r.get("metrics", {})}
    return sorted(found - set(ROW_METRICS))


def sweep_csv(keys: list[str], trials: list[Trial], records: dict[str, dict | None]) -> str:
    """One row per trial: id, swept values, seed, status, final metrics (and the claim's
    measurements), wall time, cause."""
    metrics = [*ROW_METRICS, *claim_keys(records)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", *keys, "seed", "status", *metrics, "step", "wall_s", "attempts", "cause"])
    for t in trials:
        r = records.get(t.id) or {"status": "pending", "metrics": {}}
        m = r.get("metrics", {})
        w.writerow(
            [t.id, *(format_value(v) for _, v in t.overrides), t.seed, r["status"]]
            + [_cell(m.get(k)) for k in metrics]
            + [
                _cell(r.get("step")),
                _cell(r.get("wall_s")),
                _cell(r.get("attempts")),
                r.get("cause", ""),
            ]
        )
    return buf.getvalue()


def summary_rows(trials: list[Trial], records: dict[str, dict | None]) -> list[dict[str, Any]]:
    """Per setting (the swept values): n ok trials and mean, sd (n-1), min, max over seeds of
    ``SUMMARY_METRICS`` and the claim's measurements."""
    groups: dict[tuple, list[dict]] = {}
    for t in trials:
        groups.setdefault(t.overrides, [])
        r = records.get(t.id)
        if r is not None and r.get("status") == "ok":
            groups[t.overrides].append(r["metrics"])
    rows, metrics = [], (*SUMMARY_METRICS, *claim_keys(records))
    for overrides, ms in groups.items():
        row: dict[str, Any] = {k: v for k, v in overrides}
        row["n"] = len(ms)
        for k in metrics:
            vals = [m[k] for m in ms if k in m]
            row[f"{k}_mean"] = statistics.fmean(vals) if vals else None
            row[f"{k}_sd"] = statistics.stdev(vals) if len(vals) >= 2 else None
            row[f"{k}_min"] = min(vals) if vals else None
            row[f"{k}_max"] = max(vals) if vals else None
        rows.append(row)
    return rows


def summary_csv(keys: list[str], trials: list[Trial], records: dict[str, dict | None]) -> str:
    cols = [*keys, "n"] + [
        f"{k}_{s}"
        for k in (*SUMMARY_METRICS, *claim_keys(records))
        for s in ("mean", "sd", "min", "max")
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in summary_rows(trials, records):
        w.writerow([_cell(row.get(c)) for c in cols])
    return buf.getvalue()


def write_tables(out: Path, keys: list[str], trials: list[Trial]) -> dict[str, dict | None]:
    """sweep.csv and summary.csv from every trial's result.json; returns the records."""
    records = {t.id: read_record(out, t.id) for t in trials}
    atomic_write_text(out / "sweep.csv", sweep_csv(keys, trials, records))
    atomic_write_text(out / "summary.csv", summary_csv(keys, trials, records))
    return records
