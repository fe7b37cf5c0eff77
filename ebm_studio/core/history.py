"""The metric history of a run as numeric columns, and its CSV form (``metrics.csv``).

A long session logs a row per training step: a million rows overnight. A dict per row costs
about 500 bytes; here each metric is a column (NaN where the metric was not computed), grown by
doubling so appends stay amortised O(1). The per-step metrics (loss, energies, gradient norms,
acceptance...) are float32, 4 bytes a step: they are drawn and compared, never summed over a
run, and 7 significant digits is more than a curve or a CSV reader needs. ``step`` is float32
too while that is exact (every integer up to 2^24, 16.7 million steps), float64 after.
Metrics computed only at evaluation steps (``EVAL_KEYS``: every ``train.eval_every`` steps)
live in a second, sparse float64 table with one row per evaluation, so they cost nothing at
the other steps and keep full precision (the exact KL).

``History`` still reads like the list of dict rows it replaces (``len``, indexing, iteration,
``append``), so code that walks rows keeps working; curves and checkpoints read the columns. A
float32 value read back as a row is the shortest decimal that rounds to it (0.1, not
0.10000000149011612), so ``metrics.csv`` reads as it was logged and round-trips exactly.

The studio's curves read the trainer's own columns through ``view()`` (no second copy): the
worker thread appends, the GUI thread reads the rows a view was given, which are never written
again except after a rollback, which the next view reports (``truncated_to``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

# What ``Trainer.evaluate`` returns: computed every ``train.eval_every`` steps only.
EVAL_KEYS = frozenset({"log_z_grid", "nll", "kl", "log_z_learned", "log_z_error", "mmd"})
# The studio's live curve points (worker/live_metrics.py): about one per second, so sparse too.
LIVE_KEYS = frozenset({"kl_live", "nll_live", "log_z_live"})
MIN_CAPACITY = 1024


class Columns:
    """Equal-length growable columns of ``dtype``. An ``exact`` column keeps every value it is
    given: float32 while each value is a float32 (the step, an integer, is one up to 2^24),
    float64 from the first that is not. Capacity doubles when full (amortised O(1) appends); a
    column added late is NaN for the rows before it."""

    def __init__(self, dtype: type = np.float64, exact: frozenset[str] = frozenset()) -> None:
        self.n = 0
        self.capacity = MIN_CAPACITY
        self.cols: dict[str, np.ndarray] = {}
        self.dtype, self.exact = dtype, exact

    def view(self) -> Columns:
        """The same arrays, with this length: rows appended later are not in it."""
        v = Columns(self.dtype, self.exact)
        v.n, v.capacity, v.cols = self.n, self.capacity, dict(self.cols)
        return v

    def _grow(self, need: int) -> None:
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap == self.capacity:
            return
        for name, col in self.cols.items():
            new = np.empty(cap, col.dtype)
            new[: self.n] = col[: self.n]
            self.cols[name] = new
        self.capacity = cap

    def _column(self, name: str) -> np.ndarray:
        col = self.cols.get(name)
        if col is None:
            col = self.cols[name] = np.empty(self.capacity, self.dtype)
            col[: self.n] = np.nan
        return col

    def _widen(self, name: str, values: np.ndarray) -> None:
        """An exact column turns float64 before it is given a value float32 would round."""
        col = self._column(name)
        if name in self.exact and col.dtype != np.float64:
            v = np.asarray(values, np.float64)
            if np.any((v.astype(col.dtype) != v) & ~np.isnan(v)):
                self.cols[name] = col.astype(np.float64)

    def append(self, values: Mapping[str, float]) -> None:
        self._grow(self.n + 1)
        i = self.n
        for col in self.cols.values():
            col[i] = np.nan
        for name, v in values.items():
            if name in self.exact:
                self._widen(name, v)
            self._column(name)[i] = v
        self.n += 1

    def extend(self, arrays: Mapping[str, np.ndarray], n: int) -> None:
        """Append ``n`` rows at once (``arrays``: name -> (n,) values)."""
        self._grow(self.n + n)
        for col in self.cols.values():
            col[self.n : self.n + n] = np.nan
        for name, a in arrays.items():
            if name in self.exact:
                self._widen(name, a)
            self._column(name)[self.n : self.n + n] = a
        self.n += n

    def truncate(self, n: int) -> None:
        self.n = min(self.n, max(n, 0))

    def column(self, name: str) -> np.ndarray | None:
        """A read-only view of the first ``n`` values (None for an unknown column)."""
        col = self.cols.get(name)
        if col is None:
            return None
        view = col[: self.n]
        view.flags.writeable = False
        return view

    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.cols.values())


class History:
    """A run's metric rows as columns: ``dense`` has one row per logged step, ``evals`` one row
    per step that also logged evaluation metrics (``eval_row``: its row in ``dense``)."""

    def __init__(self, eval_keys: Iterable[str] = EVAL_KEYS | LIVE_KEYS) -> None:
        self.eval_keys = set(eval_keys)
        self.dense = Columns(np.float32, exact=frozenset({"step"}))
        self.evals = Columns()
        self.eval_row = np.empty(MIN_CAPACITY, dtype=np.int64)
        self.origin = object()  # shared by this history's views: which run they show
        self.is_view = False
        # (dense rows, evaluation rows) left by the lowest truncation since the last view
        self.truncated_to: tuple[int, int] | None = None

    def view(self) -> History:
        """A read-only view of the rows so far that shares this history's arrays: what a frame
        hands the GUI thread while this history grows on the worker thread. Its
        ``truncated_to`` is the lowest point a rollback cut this history back to since the
        previous view (those rows, once shown, have been written again), or None."""
        v = History.__new__(History)
        v.eval_keys = set(self.eval_keys)
        v.dense, v.evals, v.eval_row = self.dense.view(), self.evals.view(), self.eval_row
        v.origin, v.is_view, v.truncated_to = self.origin, True, self.truncated_to
        self.truncated_to = None
        return v

    def _cut(self, n: int, m: int) -> None:
        self.dense.truncate(n)
        self.evals.truncate(m)
        low = self.truncated_to
        self.truncated_to = (
            (self.dense.n, self.evals.n)
            if low is None
            else (min(low[0], self.dense.n), min(low[1], self.evals.n))
        )

    # ------------------------------------------------------------------ list-like
    def __len__(self) -> int:
        return self.dense.n

    def __bool__(self) -> bool:
        return self.dense.n > 0

    def append(self, row: Mapping[str, float], evals: Mapping[str, float] | None = None) -> None:
        """Log one row; keys in ``eval_keys`` (and every key of ``evals``) go to the sparse
        evaluation table."""
        if self.is_view:
            raise RuntimeError("a history view is read-only")
        if evals:
            self.eval_keys.update(evals)
        dense = {k: float(v) for k, v in row.items() if k not in self.eval_keys}
        sparse = {k: float(v) for k, v in row.items() if k in self.eval_keys}
        if evals:
            sparse.update({k: float(v) for k, v in evals.items()})
        if sparse:
            m = self.evals.n
            if m == len(self.eval_row):
                self.eval_row = np.resize(self.eval_row, 2 * m)
            self.eval_row[m] = self.dense.n
            if "step" in dense:
                sparse["step"] = dense["step"]
            self.evals.append(sparse)
        self.dense.append(dense)

    def update_last(self, values: Mapping[str, float]) -> None:
        """Add sparse metrics to the newest row (metrics computed after its step was logged,
        such as the live curve points); they join that row's evaluation entry."""
        if self.is_view:
            raise RuntimeError("a history view is read-only")
        if not self.dense.n:
            raise IndexError("update_last on an empty history")
        if not values:
            return
        i, m = self.dense.n - 1, self.evals.n
        self.eval_keys.update(values)
        if m and self.eval_row[m - 1] == i:
            for k, v in values.items():
                self.evals._column(k)[m - 1] = float(v)
            return
        if m == len(self.eval_row):
            self.eval_row = np.resize(self.eval_row, 2 * m)
        self.eval_row[m] = i
        sparse = {k: float(v) for k, v in values.items()}
        step = self.dense.column("step")
        if step is not None:
            sparse["step"] = float(step[i])
        self.evals.append(sparse)

    def __getitem__(self, i: int) -> dict[str, float]:
        """Row ``i`` as a dict of the metrics computed at that step (no NaN entries)."""
        n = self.dense.n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("history row out of range")
        row = _finite_items(self.dense.cols, i)
        m = self.evals.n
        j = int(np.searchsorted(self.eval_row[:m], i))
        if j < m and self.eval_row[j] == i:
            row.update(_finite_items(self.evals.cols, j))
        return row

    def __iter__(self) -> Iterator[dict[str, float]]:
        for i in range(len(self)):
            yield self[i]

    def clear(self) -> None:
        self._cut(0, 0)

    # ------------------------------------------------------------------ columns
    @property
    def keys(self) -> list[str]:
        """Every metric ever logged ("step" included), sorted."""
        return sorted(set(self.dense.cols) | set(self.evals.cols))

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(steps, values) of one metric, from the table that holds it; None if never logged."""
        for table in (self.evals, self.dense) if name in self.eval_keys else (self.dense,):
            values = table.column(name)
            if values is not None:
                return table.column("step"), values
        return None

    def last_step(self) -> float | None:
        steps = self.dense.column("step")
        return None if steps is None or not len(steps) else float(steps[-1])

    def truncate_after(self, step: float) -> None:
        """Drop the rows logged after ``step`` (a rollback undid them). Steps never decrease."""
        steps = self.dense.column("step")
        if steps is None:
            return
        n = int(np.searchsorted(steps, step, side="right"))
        self._cut(n, int(np.searchsorted(self.eval_row[: self.evals.n], n)))

    def nbytes(self) -> int:
        """Bytes allocated for the columns (capacity, not only the rows in use)."""
        return self.dense.nbytes() + self.evals.nbytes() + self.eval_row.nbytes

    # ------------------------------------------------------------------ arrays
    def to_arrays(self) -> dict[str, np.ndarray]:
        """``dense.NAME`` (float32; ``step`` float64 past 2^24) and ``eval.NAME`` (float64) plus
        ``eval.row`` (int64): the checkpoint's tensors (copies of the rows in use only)."""
        out = {f"dense.{k}": v[: self.dense.n].copy() for k, v in self.dense.cols.items()}
        out.update({f"eval.{k}": v[: self.evals.n].copy() for k, v in self.evals.cols.items()})
        if self.evals.n:
            out["eval.row"] = self.eval_row[: self.evals.n].copy()
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> History:
        """The inverse of ``to_arrays``; ValueError for columns of unequal length or bad rows."""
        h = cls()
        dense = {k[6:]: np.asarray(v, np.float64) for k, v in arrays.items() if k[:6] == "dense."}
        sparse = {k[5:]: np.asarray(v, np.float64) for k, v in arrays.items() if k[:5] == "eval."}
        rows = np.asarray(arrays.get("eval.row", np.zeros(0)), np.int64)
        sparse.pop("row", None)
        n = _common_length(dense, "history")
        m = _common_length(sparse, "evaluation history") if sparse else 0
        if len(rows) != m or (m and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= n)):
            raise ValueError("the evaluation rows do not index the history's rows")
        h.eval_keys.update(sparse)
        h.eval_keys.discard("step")
        h.dense.extend(dense, n)
        h.evals.extend(sparse, m)
        h.eval_row = np.resize(rows, max(h.evals.capacity, MIN_CAPACITY))
        return h

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, float]]) -> History:
        h = cls()
        for r in rows:
            h.append(r)
        return h


def _finite_items(cols: Mapping[str, np.ndarray], i: int) -> dict[str, float]:
    out = {}
    for k, col in cols.items():
        v = col[i]
        if v == v:  # not NaN
            # float32: the shortest decimal that rounds back to it (numpy's str)
            out[k] = float(str(v)) if col.dtype == np.float32 else float(v)
    return out


def _common_length(arrays: Mapping[str, np.ndarray], what: str) -> int:
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1 or any(a.ndim != 1 for a in arrays.values()):
        raise ValueError(f"the {what} columns are not 1-D columns of one length")
    return lengths.pop() if lengths else 0


# ----------------------------------------------------------------------------- CSV


def metrics_csv(history: Iterable[Mapping[str, float]]) -> str:
    """One row per logged step, one column per metric (``step`` first, then sorted); an empty
    cell where a metric was not computed at that step."""
    rows = history if isinstance(history, History) else list(history)
    keys = rows.keys if isinstance(rows, History) else {k for r in rows for k in r}
    cols = ["step"] + sorted(set(keys) - {"step"})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if c not in r else _num(r[c]) for c in cols])
    return buf.getvalue()


def read_metrics_csv(text: str, name: str = "metrics.csv") -> History:
    """A ``History`` from ``metrics_csv``'s text; ValueError naming the line for a bad cell."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or header[0] != "step":
        raise ValueError(f"{name}: line 1 must be a header starting with 'step'.")
    h = History()
    for line, cells in enumerate(reader, start=2):
        if len(cells) != len(header):
            raise ValueError(f"{name}: line {line} has {len(cells)} cells, expected {len(header)}.")
        try:
            h.append({k: float(c) for k, c in zip(header, cells) if c != ""})
        except ValueError:
            raise ValueError(f"{name}: line {line} has a cell that is not a number.") from None
    return h


def _num(v: float) -> str:
    # Integers (steps, counts) without ".0"; everything else round-trips exactly (repr).
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


__all__ = ["EVAL_KEYS", "Columns", "History", "metrics_csv", "read_metrics_csv"]
