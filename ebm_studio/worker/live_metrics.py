"""Curves that move: exact KL and NLL on a coarse grid, often enough for a live curve.

The documented metrics (``train.eval_every`` steps, ``train.grid_res`` grid) are 5 to 12 s
apart at studio speed. Between them the worker adds ``kl_live`` / ``nll_live`` /
``log_z_live`` to the newest metric row at least every ``LIVE_INTERVAL_S`` seconds of
training time: the same exact quantities (grid log Z, held-out NLL, KL to the true density)
on a ``LIVE_RES`` x ``LIVE_RES`` grid and the first ``LIVE_TEST_POINTS`` test points. The
separate keys keep the full-resolution values what they are documented to be; the curves
draw the live keys as a line beside the full-resolution dots. Cost and error against the full
grid: README, "Curves that move" (``bench/live_metrics.py``).

No Qt: called by ``RunWorker`` in the worker thread, right after a step, before the row can
have left in a frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ..core.fast_energy import FastMLPEnergy
from ..core.history import LIVE_KEYS
from ..core.metrics import energy_grid, eval_blocked, log_z_from_grid
from ..core.trainer import Trainer

LIVE_INTERVAL_S = 0.8  # below the one-second promise by more than a studio step (20-50 ms)
LIVE_RES = 64
LIVE_TEST_POINTS = 200_000  # the whole test set (n_test at most): a subset was the whole error


@torch.no_grad()
def live_metrics(
    t: Trainer, res: int = LIVE_RES, n_test: int = LIVE_TEST_POINTS
) -> dict[str, float]:
    """Grid log Z, held-out NLL and KL (where the truth is known) on the coarse grid."""
    log_z = log_z_from_grid(energy_grid(t.model, t.box, res, t.device), t.box)
    # The test energies once, by the fast forward pass, for both NLL and KL (the trainer's
    # evaluate runs the module twice): most of the saving over the full evaluation.
    x = t.test_x[:n_test]
    e = eval_blocked(FastMLPEnergy.from_module(t.model) or t.model, x).double()
    out = {"log_z_live": log_z, "nll_live": float(e.mean()) + log_z}
    if t.test_log_p is not None:
        out["kl_live"] = float((t.test_log_p[:n_test].double() + e).mean()) + log_z
    return out


class LiveMetrics:
    """When the live metrics are due: ``after_step`` adds them to each trainer's newest row at
    most every ``interval`` seconds of ``clock`` time spent training (an idle pause does not
    count, so the first step after a pause gets a point at once)."""

    def __init__(
        self,
        interval: float = LIVE_INTERVAL_S,
        res: int = LIVE_RES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.res = res
        self.clock = clock
        self.last: float | None = None  # clock time of the last point (None: due now)
        self.points = 0

    def restart(self) -> None:
        """A new run or a pause: the next step gets a point."""
        self.last = None

    def after_step(self, trainers: Sequence[Trainer]) -> bool:
        """Add live metrics to each trainer's newest row when due; returns whether it did."""
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        for t in trainers:
            if not t.history or not t.is_2d:  # exact grid metrics: 2D only (image runs)
                continue
            row = t.history[-1]
            if "kl" in row or "nll" in row:
                # The full-resolution evaluation ran at this step: it is the point.
                full = {"kl_live": row.get("kl"), "nll_live": row.get("nll")}
                full["log_z_live"] = row.get("log_z_grid")
                live = {k: v for k, v in full.items() if v is not None}
            else:
                live = live_metrics(t, self.res)
            # The history is columns: a row read back is a copy, so write through the store.
            t.history.update_last(live)
        self.points += 1
        return True


__all__ = ["LIVE_INTERVAL_S", "LIVE_KEYS", "LIVE_RES", "LiveMetrics", "live_metrics"]
