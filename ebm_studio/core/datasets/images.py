"""Image data sets: the UCI 8x8 digits shipped with the package, and MNIST from the user's files.

Images are float32 tensors of shape (N, 1, H, W) scaled to [-1, 1]; the box is 1 (uniform noise
for chain starts is drawn on [-1, 1]^(H x W)). Nothing is downloaded: MNIST is read from the
standard IDX file (``train-images-idx3-ubyte``, gzipped or not) or from an ``.npz`` holding an
image array, which the user already has. ``.npz`` files are read with ``allow_pickle=False``.

The digits file (``data/digits.npz``) is the "Optical Recognition of Handwritten Digits" data set
of Alpaydin & Kaynak (1998), UCI Machine Learning Repository, CC BY 4.0; licence and citation in
``data/DIGITS-LICENSE.txt``.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch

from .base import DataError, Dataset, check_sample_args

DIGITS_FILE = Path(__file__).resolve().parent / "data" / "digits.npz"
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, three dimensions (count, rows, columns)
# Sizes a usable image set may have (pixels per side); anything else is not a picture set.
MIN_SIDE, MAX_SIDE = 4, 256


class ImageSet(Dataset):
    """A finite set of grayscale images (N, 1, H, W) in [-1, 1], with optional labels 0..9.

    No density: the exact-grid metrics do not apply. ``split`` gives disjoint train and test
    sets; ``sample`` draws rows with replacement.
    """

    def __init__(self, name: str, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        super().__init__(name, 1.0, has_density=False)
        self.images = images
        self.labels = labels
        self.event_shape = tuple(images.shape[1:])

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        check_sample_args(n, gen)
        idx = torch.randint(len(self.images), (n,), generator=gen)
        return self.images[idx].clone()

    def split(
        self, n_train: int, n_test: int, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(train, test, train labels, test labels): a seeded shuffle, the last ``n_test``
        (at most a quarter of the set) held out, up to ``n_train`` of the rest for training."""
        n = len(self.images)
        n_test = min(n_test, n // 4)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        test_idx, rest = perm[n - n_test :], perm[: n - n_test]
        train_idx = rest[: min(n_train, len(rest))]
        lab = self.labels
        return (
            self.images[train_idx].clone(),
            self.images[test_idx].clone(),
            None if lab is None else lab[train_idx].clone(),
            None if lab is None else lab[test_idx].clone(),
        )

    def density_picture(self, res: int) -> np.ndarray:
        """The mean image, for a thumbnail (row 0 = top row of the picture, flipped)."""
        return ((self.images.mean(0)[0] + 1) / 2).flip(0).numpy()


def to_unit_range(pixels: np.ndarray, top: float) -> torch.Tensor:
    """Pixel values in [0, top] -> float32 (N, 1, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / top)
    return (x * 2 - 1).unsqueeze(1).contiguous()


def load_digits() -> ImageSet:
    """The 1797 UCI 8x8 digits (pixel counts 0..16) scaled to [-1, 1], with labels."""
    with np.load(DIGITS_FILE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    labels_t = torch.from_numpy(labels.astype(np.int64))
    return ImageSet("digits", to_unit_range(images, 16.0), labels_t)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path.name}: cannot be read ({e.strerror or e}).") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path.name}: is a truncated or corrupt gzip file ({e}).") from None
    return raw


def parse_idx_images(raw: bytes, name: str) -> np.ndarray:
    """The (N, H, W) uint8 array of an IDX image file (big-endian header, magic 0x803)."""
    if len(raw) < 16:
        raise DataError(f"{name}: is too short to be an IDX image file ({len(raw)} bytes).")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(
            f"{name}: is not an IDX image file (magic number 0x{magic:08x}, "
            f"expected 0x{IDX_IMAGES_MAGIC:08x}; a label file or another format?)."
        )
    n, h, w = struct.unpack(">III", raw[4:16])
    need = n * h * w
    if len(raw) - 16 < need:
        raise DataError(
            f"{name}: is truncated ({len(raw) - 16} pixel bytes, the header announces "
            f"{n} images of {h}x{w} = {need})."
        )
    return np.frombuffer(raw, dtype=np.uint8, count=need, offset=16).reshape(n, h, w)


def _npz_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.keys())
            key = next((k for k in ("images", "x_train", "x", "arr_0") if k in keys), None)
            if key is None:
                key = next((k for k in keys if f[k].ndim in (3, 4)), None)
            if key is None:
                raise DataError(
                    f"{path.name}: holds no image array (arrays: {', '.join(keys) or 'none'}; "
                    "expected 'images' or 'x_train' of shape (N, H, W))."
                )
            images = f[key]
            lkey = next((k for k in ("labels", "y_train", "y") if k in keys), None)
            labels = f[lkey] if lkey is not None else None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path.name}: is not a readable .npz file ({e}).") from None
    return images, labels


def _check_images(images: np.ndarray, name: str) -> np.ndarray:
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise DataError(
            f"{name}: image array has shape {images.shape}; expected (N, H, W) or (N, 1, H, W)."
        )
    n, h, w = images.shape
    if n < 1 or not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DataError(
            f"{name}: image array has shape {images.shape}; expected at least one image with "
            f"sides between {MIN_SIDE} and {MAX_SIDE} pixels."
        )
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise DataError(f"{name}: image array has dtype {images.dtype}; expected numbers.")
    return images


def downsample_2x(x: torch.Tensor) -> torch.Tensor:
    """Average 2x2 pixel blocks: (N, 1, 28, 28) -> (N, 1, 14, 14)."""
    return torch.nn.functional.avg_pool2d(x, 2)


def load_mnist(path: str | os.PathLike, downsample: bool = False) -> ImageSet:
    """MNIST (or any grayscale image set) from an IDX file or an ``.npz``, scaled to [-1, 1].

    Integer pixels are taken as 0..255; float arrays as [0, 1] (or 0..255 when larger)."""
    p = Path(path)
    labels = None
    if p.suffix.lower() == ".npz":
        images, labels = _npz_images(p)
    else:
        images = parse_idx_images(_read_bytes(p), p.name)
    images = _check_images(images, p.name)
    if np.issubdtype(images.dtype, np.floating):
        if not np.isfinite(images).all():
            raise DataError(f"{p.name}: image array contains NaN or infinite values.")
        top = 1.0 if images.max() <= 1.0 else 255.0
    else:
        top = 255.0
    x = to_unit_range(np.clip(images, 0, top), top)
    if downsample:
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise DataError(f"{p.name}: images of {tuple(x.shape[-2:])} cannot be halved.")
        x = downsample_2x(x)
    lab = None
    if labels is not None and labels.shape == (len(x),) and np.issubdtype(labels.dtype, np.integer):
        lab = torch.from_numpy(labels.astype(np.int64))
    return ImageSet("mnist", x, lab)


def images_from_array(name: str, x: np.ndarray) -> ImageSet:
    """An image set from float images already in [-1, 1] (a checkpoint's stored data)."""
    return ImageSet(name, torch.from_numpy(np.asarray(x, dtype=np.float32)), None)


__all__ = [
    "ImageSet",
    "load_digits",
    "load_mnist",
    "parse_idx_images",
    "images_from_array",
    "downsample_2x",
]
