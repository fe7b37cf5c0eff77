"""Chain trails as drawn: a trail is a path only where the chain moved continuously.

An augmentation move (jump, rotation, reflection, shear) or a restart puts a chain somewhere
else in one step; joined by a line, those steps cover the landscape with straight strokes that
are not paths of the chain. The segments into such a point are cut from the trail and shown
apart, as a faint dashed hop or a ring where the chain landed (``view.trail_jumps``).
No Qt here: the landscape view draws what ``trail_paths`` returns.
"""

from __future__ import annotations

import numpy as np


def trail_paths(
    trails: np.ndarray, jumps: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``trails`` (n, length, 2) and ``jumps`` (n, length) bool (point j reached by a jump).

    Returns ``(points, connect, hops)``: the (n * length, 2) points, ``connect[i]`` whether a
    line joins point i to point i + 1 (never across trails or into a jump), and the (2 m, 2)
    from/to pairs of the m jumps."""
    n, length, _ = trails.shape
    connect = np.ones((n, length), dtype=bool)
    connect[:, -1] = False  # the end of one trail does not join the next
    if jumps is None or jumps.shape != (n, length):
        return trails.reshape(-1, 2), connect.reshape(-1), np.zeros((0, 2))
    into = jumps[:, 1:]
    connect[:, :-1] &= ~into
    rows, cols = np.nonzero(into)
    hops = np.empty((2 * len(rows), 2))
    hops[0::2] = trails[rows, cols]
    hops[1::2] = trails[rows, cols + 1]
    return trails.reshape(-1, 2), connect.reshape(-1), hops


__all__ = ["trail_paths"]
