"""Two-dimensional data distributions, one module per kind; ``make_dataset`` picks one by name.

- ``toy``: closed-form densities (Gaussian mixtures, rings, checkerboard);
- ``curves``: noise around parametric curves (moons, spirals, pinwheel, swiss roll), with the
  density computed by quadrature;
- ``image_density``: a grayscale picture as a density on the box;
- ``points``: point sets without a density (CSV files, drawn points);
- ``images``: image sets (UCI 8x8 digits shipped, MNIST from the user's files), no density;
- ``base``: the ``Dataset`` interface, ``DataError`` and the helpers the modules share.

Every built-in dataset has an exact density, so metrics such as KL(p_data || p_theta) are
computed, not estimated. ``sample`` and ``log_prob`` always describe the same distribution.
A new kind of dataset is a new module with a ``Dataset`` subclass and a branch below.
"""

from __future__ import annotations

import numpy as np

from ..config import DATASETS, ConfigError, DataConfig
from . import curves, toy
from .base import DataError, Dataset
from .image_density import ImageDataset
from .images import ImageSet, images_from_array, load_digits, load_mnist
from .points import PointsDataset, load_csv_points

# name -> factory(box, std or None for the dataset's default)
_BUILTINS = {**toy.BUILTINS, **curves.BUILTINS}


def make_dataset(cfg: DataConfig, points: np.ndarray | None = None) -> Dataset:
    """The dataset ``cfg`` describes; ``points`` supplies the points of ``drawn``."""
    std = cfg.std if cfg.std > 0 else None  # 0 means the dataset's own default
    if cfg.name in _BUILTINS:
        return _BUILTINS[cfg.name](cfg.box, std)
    if cfg.name == "csv":
        if not cfg.path:
            raise DataError("csv dataset: no file was chosen (data.path is empty)")
        return PointsDataset(load_csv_points(cfg.path), cfg.box, name="csv")
    if cfg.name == "image":
        if not cfg.path:
            raise DataError("image dataset: no file was chosen (data.path is empty)")
        return ImageDataset(cfg.path, cfg.box)
    if cfg.name == "digits":
        return load_digits()
    if cfg.name == "mnist":
        if points is not None:  # a checkpoint's stored images: the user's file is not needed
            return images_from_array("mnist", points)
        if not cfg.path:
            raise DataError("mnist dataset: no file was chosen (data.path is empty)")
        return load_mnist(cfg.path, cfg.downsample)
    if cfg.name == "drawn":
        return PointsDataset(points, cfg.box, name="drawn")
    raise ConfigError(f"unknown dataset {cfg.name!r}; expected one of: {', '.join(DATASETS)}")


__all__ = [
    "DataError",
    "Dataset",
    "ImageDataset",
    "ImageSet",
    "load_digits",
    "load_mnist",
    "PointsDataset",
    "load_csv_points",
    "make_dataset",
]
