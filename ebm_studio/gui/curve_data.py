"""What a panel of metric curves holds: the run's ``History`` (columns: a view of the trainer's
own, which frames carry, or rows added one by one) and, per plotted metric,
a ``MinMaxPyramid`` so that each redraw reads about two points per pixel column, not the whole
run (``ebm_studio.core.reduce``). No Qt here: the panels draw what ``display`` returns.
"""

from __future__ import annotations

import numpy as np

from ..core.frames import Snapshot
from ..core.history import Columns, History
from ..core.reduce import MinMaxPyramid

BOUNDS_BINS = 256  # the data's y bounds come from a reduction this wide (exact min and max)


class CurveView:
    """One metric of a ``CurveData``: its full data, bounds, and a display reduction."""

    def __init__(self, owner: CurveData, key: str) -> None:
        self.owner, self.key = owner, key

    def _xy(self) -> tuple[np.ndarray, np.ndarray]:
        table = self.owner.table(self.key)
        return table.column("step"), table.column(self.key)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Every logged (step, value) of this metric (steps where it was computed)."""
        x, y = self._xy()
        keep = np.isfinite(y)
        return x[keep], y[keep]

    def display(
        self, width: int, x_range: tuple[float, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The points to draw for a plot ``width`` pixels wide showing ``x_range`` (all when
        None): each pixel column's minimum and maximum, or every row when few are visible."""
        x, y = self._xy()
        pyramid = self.owner.pyramid(self.key)
        pyramid.update(y)
        i0, i1 = 0, len(y)
        if x_range is not None:  # one row beyond each edge: the line leaves the plot
            i0 = max(int(np.searchsorted(x, x_range[0], side="left")) - 1, 0)
            i1 = min(int(np.searchsorted(x, x_range[1], side="right")) + 1, len(y))
        xs, ys, _ = pyramid.reduce(x, y, i0, i1, width)
        keep = np.isfinite(ys)
        return xs[keep], ys[keep]

    def bounds(self) -> tuple[float, float, float, float] | None:
        """(first step, last step, smallest value, largest value); None when it has none."""
        xs, ys = self.display(BOUNDS_BINS)
        if not len(ys):
            return None
        x, _ = self._xy()
        return float(x[0]), float(x[-1]), float(ys.min()), float(ys.max())


class CurveData:
    """A run's metric rows for a curves panel. Rows arrive in step order; a row at a step
    already shown means a divergence rollback undid the steps from there: they are dropped."""

    def __init__(self, ignored: frozenset[str] | set[str] = frozenset()) -> None:
        self.ignored = set(ignored) | {"step"}
        self.history = History()
        self._pyramids: dict[str, MinMaxPyramid] = {}

    def table(self, key: str) -> Columns:
        h = self.history
        return h.evals if key in h.eval_keys else h.dense

    def pyramid(self, key: str) -> MinMaxPyramid:
        p = self._pyramids.get(key)
        if p is None:
            p = self._pyramids[key] = MinMaxPyramid()
        return p

    def add_row(self, row: dict[str, float]) -> bool:
        """Store one row; False (nothing stored) for a row without a step."""
        step = row.get("step")
        if step is None:
            return False
        if self.history.is_view:  # rows after a run's columns: from here on, a copy of our own
            self.history = History.from_arrays(self.history.to_arrays())
        last = self.history.last_step()
        if last is not None and step <= last:
            self.history.truncate_after(np.nextafter(float(step), -np.inf))
            for key, p in self._pyramids.items():
                p.invalidate(self.table(key).n)
        self.history.append(row)
        return True

    def add_snapshot(self, snap: Snapshot) -> bool:
        """Show a frame's history (a view of the trainer's columns: no copy), or store its rows
        when it has none; True if anything changed."""
        h = snap.history
        if h is None:
            added = False
            for row in snap.rows:
                added = self.add_row(row) or added
            return added
        old = self.history
        if h.origin is not old.origin:  # another run (a reset, an opened checkpoint)
            self._pyramids.clear()
        elif h.truncated_to is not None:  # a rollback rewrote rows from there
            n, m = h.truncated_to
            for key, p in self._pyramids.items():
                p.invalidate(m if key in h.eval_keys else n)
        self.history = h
        return (
            h.origin is not old.origin
            or h.truncated_to is not None
            or (len(h), h.evals.n) != (len(old), old.evals.n)
        )

    def plotted(self) -> list[str]:
        """The plotted metrics logged so far."""
        return [k for k in self.history.keys if k not in self.ignored]

    def view(self, key: str) -> CurveView:
        return CurveView(self, key)

    def reduction_nbytes(self) -> int:
        """Bytes allocated for the curves' min/max summaries (beside the history's columns)."""
        return sum(
            sum(a.nbytes for a in p.mins) + sum(a.nbytes for a in p.maxs)
            for p in self._pyramids.values()
        )

    def clear(self) -> None:
        self.history = History()
        self._pyramids.clear()


__all__ = ["BOUNDS_BINS", "CurveData", "CurveView"]
