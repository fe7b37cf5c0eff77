"""Grid metrics against energies with known normalisers; chain diagnostics on known series."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebm_studio.core.metrics import (
    ess,
    grid_points,
    log_z_grid,
    median_bandwidth,
    mmd2,
    split_rhat,
)
from ebm_studio.core.models import ANALYTIC


@pytest.mark.parametrize("name", ["gaussian", "mixture", "banana", "donut", "double-well"])
def test_grid_log_z_matches_known_normaliser(name):
    energy = ANALYTIC[name]()
    box = 10.0 if name == "banana" else 6.0
    lz = log_z_grid(energy, box, 400)
    assert lz == pytest.approx(energy.log_z, abs=1e-3)
    # Doubling the resolution changes it by less than 1e-4 (midpoint rule, smooth integrand).
    assert abs(log_z_grid(energy, box, 800) - lz) < 1e-4


def test_grid_points_cover_the_box_row_major():
    pts, area = grid_points(2.0, 4)
    assert area == pytest.approx(1.0)
    assert pts[0].tolist() == [-1.5, -1.5] and pts[1].tolist() == [-0.5, -1.5]
    assert pts[-1].tolist() == [1.5, 1.5]


def test_mmd_is_small_for_same_law_and_large_for_different():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    c = torch.randn(500, 2, generator=g) + 1.0
    h = median_bandwidth(a)
    assert abs(mmd2(a, b, h)) < 0.01
    assert mmd2(a, c, h) > 0.1


def test_ess_of_iid_and_ar1():
    rng = np.random.default_rng(0)
    t, m = 4000, 8
    iid = rng.standard_normal((t, m))
    assert ess(iid) == pytest.approx(t * m, rel=0.15)
    # AR(1) with coefficient phi: integrated autocorrelation time (1 + phi) / (1 - phi).
    phi = 0.9
    x = np.zeros((t, m))
    for i in range(1, t):
        x[i] = phi * x[i - 1] + math.sqrt(1 - phi**2) * rng.standard_normal(m)
    expected = t * m * (1 - phi) / (1 + phi)
    assert ess(x) == pytest.approx(expected, rel=0.25)


def test_split_rhat_detects_non_mixing():
    rng = np.random.default_rng(1)
    assert split_rhat(rng.standard_normal((1000, 4))) == pytest.approx(1.0, abs=0.01)
    stuck = rng.standard_normal((1000, 4)) + np.array([0.0, 0.0, 3.0, 3.0])
    assert split_rhat(stuck) > 1.5
    trend = np.linspace(0, 5, 1000)[:, None] + rng.standard_normal((1000, 4))
    assert split_rhat(trend) > 1.2


def test_mlp_grid_uses_the_model_energy():
    """The grid of an MLP energy (evaluated by the hand-written forward pass, in blocks) is the
    module's own E at the cell centres, spectral normalisation included."""
    from ebm_studio.core.config import ModelConfig
    from ebm_studio.core.metrics import energy_grid
    from ebm_studio.core.models import build_model

    torch.manual_seed(0)
    for sn in (False, True):
        m = build_model(ModelConfig(width=32, depth=2, spectral_norm=sn)).eval()
        pts, _ = grid_points(3.0, 70)  # 4900 cells: more than one block
        with torch.no_grad():
            want = m(pts).reshape(70, 70)
        torch.testing.assert_close(energy_grid(m, 3.0, 70), want, rtol=1e-5, atol=1e-5)
