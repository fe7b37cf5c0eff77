"""Display-resolution reduction of a long metric column: min/max per pixel column.

A curve of a million points redrawn five times a second costs what a million points cost; the
eye sees at most two values per pixel column, the lowest and the highest. ``MinMaxPyramid``
keeps the minimum and maximum of blocks of ``BASE``, 2 ``BASE``, 4 ``BASE``... rows, updated
incrementally as rows arrive, so reducing any range of rows to about ``width`` bins reads
O(width) block summaries plus fewer than two blocks of raw rows at its ends: the cost follows
the plot's width, not the run's length. A range of at most ``BASE x width`` rows is reduced
from the raw rows, and one of at most ``2 x width`` rows is drawn in full.

NaN (a metric not computed at a step) is skipped: ``np.fmin``/``np.fmax`` ignore it.
"""

from __future__ import annotations

import numpy as np

BASE = 64  # rows per finest block: summaries cost 2 x 8 / 64 (x2 over levels) = 0.5 B a row


class MinMaxPyramid:
    """Block minima and maxima of one column at every power-of-two block size >= ``BASE``."""

    def __init__(self) -> None:
        self.mins: list[np.ndarray] = []
        self.maxs: list[np.ndarray] = []
        self.done: list[int] = []  # complete blocks summarised per level

    def invalidate(self, n: int) -> None:
        """Rows from ``n`` on changed (a rollback): forget the blocks that cover them."""
        for k in range(len(self.done)):
            self.done[k] = min(self.done[k], n // (BASE << k))

    def update(self, values: np.ndarray) -> None:
        """Summarise the complete blocks of ``values`` not yet summarised (amortised O(1) a
        row)."""
        n = len(values)
        k = 0
        while n >= BASE << k:
            nb = n // (BASE << k)
            if k == len(self.done):
                self.mins.append(np.empty(max(nb, 16)))
                self.maxs.append(np.empty(max(nb, 16)))
                self.done.append(0)
            d = self.done[k]
            if nb > d:
                if nb > len(self.mins[k]):
                    size = max(nb, 2 * len(self.mins[k]))
                    self.mins[k] = np.resize(self.mins[k], size)
                    self.maxs[k] = np.resize(self.maxs[k], size)
                if k == 0:
                    block = values[d * BASE : nb * BASE].reshape(-1, BASE)
                    lo, hi = np.fmin.reduce(block, axis=1), np.fmax.reduce(block, axis=1)
                else:
                    pm, px = self.mins[k - 1], self.maxs[k - 1]
                    lo = np.fmin(pm[2 * d : 2 * nb : 2], pm[2 * d + 1 : 2 * nb : 2])
                    hi = np.fmax(px[2 * d : 2 * nb : 2], px[2 * d + 1 : 2 * nb : 2])
                self.mins[k][d:nb], self.maxs[k][d:nb] = lo, hi
                self.done[k] = nb
            k += 1

    def reduce(
        self, x: np.ndarray, y: np.ndarray, i0: int, i1: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows [i0, i1) of (x, y) for a plot ``width`` pixels wide: ``(xs, ys, edges)``.

        With more than ``2 x width`` rows, bin j covers rows ``edges[j]:edges[j+1]`` and gives
        two points, ``(x[edges[j]], min)`` and ``(x[edges[j]], max)``; the bins are contiguous
        and there are fewer than ``2 x width + 2``. Otherwise the rows themselves (edges: each
        row its own bin)."""
        width = max(int(width), 1)
        i0, i1 = max(i0, 0), min(i1, len(y))
        n = i1 - i0
        if n <= 2 * width:
            return x[i0:i1], y[i0:i1], np.arange(i0, i1 + 1)
        # The coarsest level whose blocks still number at least ``width`` in the range.
        k = -1
        while (
            k + 1 < len(self.done)
            and n // (BASE << (k + 1)) >= width
            and self.done[k + 1] * (BASE << (k + 1)) >= i1 - (BASE << (k + 1))
        ):
            k += 1
        if k < 0:
            return _raw_bins(x, y, i0, i1, -(-n // width))
        s = BASE << k
        b0, b1 = -(-i0 // s), min(i1 // s, self.done[k])
        edges = [np.array([i0])] if i0 < b0 * s else []
        edges.append(np.arange(b0, b1 + 1) * s)
        lo_parts, hi_parts = [], []
        if i0 < b0 * s:
            lo_parts.append(np.fmin.reduce(y[i0 : b0 * s], keepdims=True))
            hi_parts.append(np.fmax.reduce(y[i0 : b0 * s], keepdims=True))
        lo_parts.append(self.mins[k][b0:b1])
        hi_parts.append(self.maxs[k][b0:b1])
        if b1 * s < i1:
            lo_parts.append(np.fmin.reduce(y[b1 * s : i1], keepdims=True))
            hi_parts.append(np.fmax.reduce(y[b1 * s : i1], keepdims=True))
            edges.append(np.array([i1]))
        e = np.concatenate(edges)
        return _pairs(x[e[:-1]], np.concatenate(lo_parts), np.concatenate(hi_parts)) + (e,)


def _raw_bins(x, y, i0, i1, size):
    e = np.append(np.arange(i0, i1, size), i1)
    lo = np.fmin.reduceat(y[i0:i1], e[:-1] - i0)
    hi = np.fmax.reduceat(y[i0:i1], e[:-1] - i0)
    return _pairs(x[e[:-1]], lo, hi) + (e,)


def _pairs(xb: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bin as two points at its first step: its minimum, then its maximum."""
    xs = np.repeat(xb, 2)
    ys = np.empty(2 * len(lo))
    ys[0::2], ys[1::2] = lo, hi
    return xs, ys


__all__ = ["BASE", "MinMaxPyramid"]
