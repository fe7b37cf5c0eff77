"""Mode masses on the grid (core/modes.py) and the unequal3 mixture of exp-sm-weights."""

from __future__ import annotations

import numpy as np
import torch

from ebm_studio.core.config import DataConfig
from ebm_studio.core.datasets import make_dataset
from ebm_studio.core.metrics import grid_points
from ebm_studio.core.modes import chain_mode_shares, mode_masses


def test_unequal3_weights_are_its_mode_masses_and_its_sample_shares():
    ds = make_dataset(DataConfig(name="unequal3"))
    pts, area = grid_points(ds.box, 300)
    lp = ds.log_prob(pts.double())
    assert abs(float(lp.exp().sum()) * area - 1) < 1e-6  # a density on the box
    # Modes 14 std apart: the Voronoi split misplaces less than e^-25 of the mass.
    masses = mode_masses(lp.reshape(300, 300), ds.box, ds.means)
    np.testing.assert_allclose(masses, [0.6, 0.3, 0.1], atol=1e-6)
    x = ds.sample(20000, torch.Generator().manual_seed(0))
    # 20000 draws: the standard error of a share is at most sqrt(0.25 / 20000) = 0.0035.
    np.testing.assert_allclose(chain_mode_shares(x, ds.means), [0.6, 0.3, 0.1], atol=0.015)
