"""Image mode's per-frame extras, computed in the worker at a bounded cadence: the energy on
the data's principal plane, projections of data, chains and buffer, and the class histogram
of the chains. No Qt.
"""

from __future__ import annotations

import time
import weakref

import numpy as np
import torch

from ..core.digit_classifier import DigitClassifier, class_metrics, load_or_train
from ..core.frames import ImageExtras, Snapshot
from ..core.principal_plane import PrincipalPlane, plane_energy, principal_plane
from ..core.trainer import Trainer

EXTRAS_EVERY_S = 0.5  # at most two slices per second: 1024 conv evaluations each
PROJECTED = 500  # points of each kind projected on the plane


class _RunExtras:
    def __init__(self, t: Trainer) -> None:
        self.plane: PrincipalPlane = principal_plane(t.train_x)
        self.data_xy = self.plane.project(t.train_x[:PROJECTED].cpu())
        self.classifier: DigitClassifier | None = None
        if t.train_labels is not None:
            try:
                self.classifier = load_or_train(t.config.data.name, t.train_x, t.train_labels)
            except ValueError:
                self.classifier = None
        self.last = -float("inf")


_RUNS: weakref.WeakKeyDictionary[Trainer, _RunExtras] = weakref.WeakKeyDictionary()


def image_extras(t: Trainer, snap: Snapshot, force: bool = False) -> ImageExtras | None:
    """``snap``'s extras when the cadence allows (or ``force``), else None."""
    if t.is_2d:
        return None
    run = _RUNS.get(t)
    if run is None:
        run = _RUNS[t] = _RunExtras(t)
    now = time.monotonic()
    if not force and now - run.last < EXTRAS_EVERY_S:
        return None
    run.last = now

    def proj(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None or not len(x) else run.plane.project(x[:PROJECTED])

    hist = None
    if run.classifier is not None and snap.chains is not None and len(snap.chains):
        hist = tuple(class_metrics(run.classifier, torch.from_numpy(snap.chains)).histogram)
    return ImageExtras(
        plane_energy(t.model, run.plane),
        run.plane.extent,
        run.data_xy,
        proj(snap.chains),
        proj(snap.buffer),
        hist,
    )


__all__ = ["EXTRAS_EVERY_S", "image_extras"]
