"""Pictures and metrics of image runs (digits, MNIST): chain grids, the samples figure of a
headless run, and the classifier / AIS metrics that replace the 2D exact-grid ones."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_write_bytes


def image_grid(x: np.ndarray | torch.Tensor, ncol: int = 8, gap: int = 1) -> np.ndarray:
    """(N, 1, H, W) images in [-1, 1] tiled into one (rows, cols, 3) uint8 picture."""
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    a = np.clip((a.reshape(len(a), *a.shape[-2:]) + 1) / 2, 0, 1)
    n, h, w = a.shape
    ncol = max(1, min(ncol, n))
    nrow = max(1, math.ceil(n / ncol))
    out = np.full((nrow * (h + gap) + gap, ncol * (w + gap) + gap), 0.25, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[gap + r * (h + gap) : gap + r * (h + gap) + h, gap + c * (w + gap) :][:, :w] = a[i]
    return np.repeat((out * 255).astype(np.uint8)[..., None], 3, axis=2)


def save_png(path: str | os.PathLike, rgb: np.ndarray, scale: int = 1) -> None:
    """An (h, w, 3) uint8 picture as a PNG, each pixel a ``scale`` x ``scale`` block."""
    import io

    from PIL import Image

    big = np.kron(rgb, np.ones((scale, scale, 1), dtype=np.uint8))
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def side_by_side(*images: np.ndarray, gap: int = 4) -> np.ndarray:
    """Pictures of any heights left to right on a white background."""
    h = max(im.shape[0] for im in images)
    w = sum(im.shape[1] for im in images) + gap * (len(images) - 1)
    out = np.full((h, w, 3), 255, dtype=np.uint8)
    x = 0
    for im in images:
        out[: im.shape[0], x : x + im.shape[1]] = im
        x += im.shape[1] + gap
    return out


def write_image_figures(trainer, out: str | os.PathLike) -> None:
    """``samples.png``: 64 held-out images | 64 current chains (replaces the 2D landscape)."""
    panels = [image_grid(trainer.test_x[:64])]
    ch = trainer.objective.chains()
    if ch is not None:
        panels.append(image_grid(ch[:64]))
    save_png(Path(out) / "samples.png", side_by_side(*panels), scale=8)


def image_metrics(
    trainer,
    chains: torch.Tensor,
    *,
    ais_chains: int = 0,
    ais_temps: int = 200,
    seed: int = 0,
) -> dict[str, float]:
    """Classifier metrics of ``chains`` (class entropy, confident fraction, classes covered,
    Frechet distance to held-out data, the classifier's own test accuracy) and, when
    ``ais_chains`` > 0, the AIS held-out log-likelihood with its standard error."""
    from .ais import ais_log_z, heldout_log_likelihood
    from .digit_classifier import class_metrics, frechet_distance, load_or_train

    ds = trainer.dataset
    out: dict[str, float] = {}
    labels = getattr(ds, "labels", None)
    if labels is not None:
        clf = load_or_train(ds.name, ds.images, labels)
        cm = class_metrics(clf, chains)
        out.update(cm.as_row())
        out["classifier_accuracy"] = clf.test_accuracy
        out["frechet"] = frechet_distance(clf, chains, trainer.test_x)
    if ais_chains > 0:
        gen = torch.Generator(device=trainer.device).manual_seed(seed)
        mean = trainer.train_x.mean(0)
        res = ais_log_z(
            trainer.model,
            tuple(trainer.event_shape),
            gen,
            n_chains=ais_chains,
            n_temps=ais_temps,
            base_mean=mean,
            base_std=float(trainer.train_x.std()),
            # A clamped sampler never trains the energy outside the box: integrate over it
            # (core/ais.py explains why Z over R^D is then often infinite).
            box=trainer.box if trainer.config.sampler.clamp_box else None,
            device=trainer.device,
        )
        ll, se = heldout_log_likelihood(trainer.model, trainer.test_x, res)
        out.update(
            {
                "ais_log_z": res.log_z,
                "ais_log_z_se": res.se,
                "ais_ess": res.ess,
                "heldout_ll": ll,
                "heldout_ll_se": se,
            }
        )
    return out


__all__ = ["image_grid", "image_metrics", "write_image_figures"]
