"""Honest metrics for image chains without an exact density: a small digit classifier.

The classifier (an MLP, pixels -> 256 -> 128 features -> 10 classes) is trained once per data
set at first use, deterministically (fixed seed, fixed split: 20% of the labelled images held
out for its test accuracy), and cached in the user's cache folder as safetensors, keyed by a
hash of the images and labels. It trains with small Gaussian pixel noise so that it judges the
slightly noisy images MCMC chains produce, not only clean scans.

From it: the class histogram of a set of chains, its entropy (nats; log 10 = 2.303 when all
classes are equally common), the fraction of chains it assigns with confidence above 0.9, the
number of classes that receive at least 1% of the chains, and the Frechet distance between its
128 features on chains and on held-out data (Heusel et al. 2017's FID, with this classifier in
place of Inception: only comparable between runs on the same data set).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

VERSION = 1  # bump when the architecture or training recipe changes (new cache file)
SEED = 0
TRAIN_STEPS = 600
NOISE_STD = 0.1
CONFIDENT = 0.9
MIN_SHARE = 0.01  # a class "is assigned" when it gets at least this share of the chains


def cache_dir() -> Path:
    """``$EBM_STUDIO_CACHE``, else the platform's user cache folder (platformdirs when
    installed), else ``$XDG_CACHE_HOME/ebm-studio`` or ``~/.cache/ebm-studio``."""
    env = os.environ.get("EBM_STUDIO_CACHE")
    if env:
        return Path(env)
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("ebm-studio"))
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "ebm-studio"


class DigitClassifier(nn.Module):
    def __init__(self, d_in: int, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(d_in, 256), nn.SiLU(), nn.Linear(256, 128), nn.SiLU()
        )
        self.out = nn.Linear(128, n_classes)
        self.test_accuracy = float("nan")

    def feature(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x.reshape(len(x), -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.feature(x))


def _key(images: torch.Tensor, labels: torch.Tensor) -> str:
    h = hashlib.sha256()
    h.update(images.float().contiguous().numpy().tobytes())
    h.update(labels.long().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_classifier(images: torch.Tensor, labels: torch.Tensor) -> DigitClassifier:
    """Train deterministically on 80% of the labelled images; test accuracy on the rest."""
    n = len(images)
    g = torch.Generator().manual_seed(SEED)
    perm = torch.randperm(n, generator=g)
    n_test = n // 5
    test, train = perm[:n_test], perm[n_test:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        clf = DigitClassifier(images[0].numel(), int(labels.max()) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3, weight_decay=1e-4)
    x, y = images[train], labels[train]
    for _ in range(TRAIN_STEPS):
        idx = torch.randint(len(x), (256,), generator=g)
        xb = x[idx] + NOISE_STD * torch.randn(x[idx].shape, generator=g)
        loss = nn.functional.cross_entropy(clf(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        clf.test_accuracy = float((clf(images[test]).argmax(1) == labels[test]).float().mean())
    return clf.eval()


def load_or_train(name: str, images: torch.Tensor, labels: torch.Tensor | None) -> DigitClassifier:
    """The cached classifier of this data set, trained and cached on first use."""
    from safetensors.torch import load_file, save_file

    if labels is None:
        raise ValueError(
            f"the {name} data set has no labels: the classifier metrics need them "
            "(an .npz with a 'labels' or 'y_train' array)"
        )
    images, labels = images.detach().cpu(), labels.detach().cpu()
    path = cache_dir() / f"classifier-{name}-{_key(images, labels)}-v{VERSION}.safetensors"
    if path.exists():
        try:
            state = load_file(str(path))
            acc = float(state.pop("test_accuracy"))
            clf = DigitClassifier(images[0].numel(), int(labels.max()) + 1)
            clf.load_state_dict(state)
            clf.test_accuracy = acc
            return clf.eval()
        except (OSError, RuntimeError, KeyError, ValueError):
            pass  # a damaged cache file: train again and overwrite it
    clf = train_classifier(images, labels)
    state = {k: v.contiguous() for k, v in clf.state_dict().items()}
    state["test_accuracy"] = torch.tensor(clf.test_accuracy, dtype=torch.float64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(state, str(tmp))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache: the classifier is trained again next time
    return clf


@dataclass
class ClassMetrics:
    histogram: list[int]  # chains per predicted class
    entropy: float  # of the class histogram, nats
    confident: float  # fraction of chains with max probability > CONFIDENT
    classes: int  # classes with at least MIN_SHARE of the chains

    def as_row(self) -> dict[str, float]:
        return {
            "class_entropy": self.entropy,
            "frac_confident": self.confident,
            "classes_covered": float(self.classes),
        }


@torch.no_grad()
def class_metrics(clf: DigitClassifier, x: torch.Tensor) -> ClassMetrics:
    p = torch.softmax(clf(x.detach().cpu().float()), dim=1)
    k = p.shape[1]
    hist = torch.bincount(p.argmax(1), minlength=k)
    share = hist.double() / max(len(x), 1)
    nz = share[share > 0]
    entropy = float(-(nz * nz.log()).sum())
    return ClassMetrics(
        histogram=[int(v) for v in hist],
        entropy=entropy,
        confident=float((p.max(1).values > CONFIDENT).float().mean()),
        classes=int((share >= MIN_SHARE).sum()),
    )


def _cov(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / max(len(f) - 1, 1)


def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((a + a.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


@torch.no_grad()
def frechet_distance(clf: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """|mu_x - mu_y|^2 + tr(S_x + S_y - 2 (S_x^1/2 S_y S_x^1/2)^1/2) on classifier features."""
    fx = clf.feature(x.detach().cpu().float()).double()
    fy = clf.feature(y.detach().cpu().float()).double()
    mx, sx = _cov(fx)
    my, sy = _cov(fy)
    r = _sqrtm_psd(sx)
    cross = _sqrtm_psd(r @ sy @ r)
    fd = float(((mx - my) ** 2).sum() + torch.trace(sx) + torch.trace(sy) - 2 * torch.trace(cross))
    return max(fd, 0.0) if math.isfinite(fd) else math.inf


__all__ = [
    "DigitClassifier",
    "ClassMetrics",
    "cache_dir",
    "class_metrics",
    "frechet_distance",
    "load_or_train",
    "train_classifier",
]
