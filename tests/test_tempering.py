"""Parallel tempering and HMC (core/tempering.py) against exact samples of analytic targets."""

from __future__ import annotations

import pytest
import torch

from ebm_studio.core.config import Config, ConfigError, SamplerConfig
from ebm_studio.core.metrics import mmd_permutation_test
from ebm_studio.core.models import GaussianMixtureEnergy
from ebm_studio.core.samplers import Sampler
from ebm_studio.core.tempering import ladder

# Four modes 6 apart with std 0.4: the barrier between them is ~ (3/0.4)^2/2 = 28 nats, so
# MALA at T = 1 never crosses in a test's few hundred steps, and a ladder to 60 T (std 3.1 at
# the top) flattens it.
MEANS = [(-3.0, -3.0), (-3.0, 3.0), (3.0, -3.0), (3.0, 3.0)]
PT = {"kind": "pt", "step_size": 0.05, "pt_replicas": 6, "pt_top_temp": 60.0}


def _mixture() -> GaussianMixtureEnergy:
    return GaussianMixtureEnergy(MEANS, 0.4)


def _one_mode_start(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.tensor([MEANS[3]]) + 0.4 * torch.randn(n, 2, generator=g)


def _modes(x: torch.Tensor) -> torch.Tensor:
    return ((x[:, None] - torch.tensor(MEANS)[None]) ** 2).sum(-1).argmin(1)


def _sq_dist(x: torch.Tensor) -> torch.Tensor:
    """Squared distance of each chain to its nearest mode centre."""
    return ((x[:, None] - torch.tensor(MEANS)[None]) ** 2).sum(-1).min(1).values


def _visited(kind_cfg: dict, steps: int, n: int = 200):
    """Modes the T_0 chains visited (every 20 steps, all starting in one mode), the final
    chains, the last statistics and the mean squared distance to the nearest centre over the
    last 5 snapshots."""
    s = Sampler(SamplerConfig(**kind_cfg), box=6.0)
    g = torch.Generator().manual_seed(1)
    x, seen, stats, spread = _one_mode_start(n), set(), None, []
    for _ in range(steps // 20):
        x, stats = s.run(_mixture(), x, 20, g)
        seen |= set(_modes(x).tolist())
        spread.append(float(_sq_dist(x).mean()))
    return seen, x, stats, sum(spread[-5:]) / 5


def test_pt_visits_every_mode_where_mala_stays_in_one():
    pt_seen, x, stats, spread = _visited(PT, 200)
    mala_seen, _, _, _ = _visited({"kind": "mala", "step_size": 0.05}, 200)
    assert pt_seen == {0, 1, 2, 3}
    assert len(mala_seen) <= 2, f"MALA crossed a 28-nat barrier: {mala_seen}"
    # Started in one mode, PT's cold chains still match exact samples after 200 steps.
    exact = _mixture().sample(len(x), torch.Generator().manual_seed(2))
    _, p = mmd_permutation_test(x, exact, torch.Generator().manual_seed(3), n_perm=200)
    assert p > 0.01, f"PT samples differ from exact mixture samples (p={p:.3f})"
    # The MMD's median bandwidth sees where the modes are, not how wide: the within-mode spread
    # E|x - m|^2 = 2 std^2 = 0.32 does. 200 chains x 5 snapshots: standard error about 0.015
    # (sd 0.32 / sqrt(200), snapshots correlated); 0.08 is 5 of them. A cold rung that takes
    # hot states (a wrong swap rule) measured 1.2.
    assert abs(spread - 0.32) < 0.08, f"cold chains' spread {spread:.3f}, exact 0.32"
    # One swap rate per adjacent pair, each a probability; a geometric ladder of ratio 2.27
    # on a 2D target swaps often (measured 0.6-0.7), so none is near 0.
    assert stats.swap_rates is not None and len(stats.swap_rates) == PT["pt_replicas"] - 1
    assert all(0.2 < r <= 1.0 for r in stats.swap_rates), stats.swap_rates
    assert 0.3 < stats.acceptance <= 1.0


def test_hmc_matches_exact_samples():
    energy = GaussianMixtureEnergy([(-2, -2), (-2, 2), (2, -2), (2, 2)], 0.5)
    g = torch.Generator().manual_seed(1)
    # Symmetric starts (as test_samplers' MALA test): HMC mixes within basins, each basin
    # gets its exact share by symmetry.
    x0 = (torch.rand(500, 2, generator=g) * 2 - 1) * 4.0
    # eps = 0.45 is 0.9 std: leapfrog is stable but not accurate, so the Metropolis correction
    # matters (uncorrected, the within-mode spread measured 0.64 against the exact 0.5).
    s = Sampler(SamplerConfig(kind="hmc", step_size=0.45, hmc_leapfrog=6), box=6.0)
    x, stats = s.run(energy, x0, 60, g)
    assert 0.5 < stats.acceptance < 1.0
    spread = float(((x[:, None] - energy.means[None]) ** 2).sum(-1).min(1).values.mean())
    # E|x - m|^2 = 2 std^2 = 0.5; 500 chains: standard error 0.5 / sqrt(500) = 0.022.
    assert abs(spread - 0.5) < 0.09, f"HMC within-mode spread {spread:.3f}, exact 0.5"
    exact = energy.sample(500, torch.Generator().manual_seed(2))
    _, p = mmd_permutation_test(x, exact, torch.Generator().manual_seed(3), n_perm=200)
    assert p > 0.01, f"HMC samples differ from exact samples (p={p:.3f})"


@pytest.mark.parametrize("kind", ["pt", "hmc"])
def test_exact_samplers_are_dimension_free(kind):
    # Chains of event shape (3, 2) on a standard Gaussian: mean 0, variance T = 1 per entry.
    # HMC: a trajectory of 4 x 0.3 = 1.2 (not near pi, where a Gaussian's orbit comes back).
    cfg = SamplerConfig(kind=kind, step_size=0.3, hmc_leapfrog=4, pt_replicas=3)
    x0 = torch.zeros(2000, 3, 2)
    x, _ = Sampler(cfg, box=6.0).run(
        lambda z: 0.5 * z.flatten(1).pow(2).sum(1), x0, 60, torch.Generator().manual_seed(0)
    )
    assert x.shape == (2000, 3, 2)
    # 2000 chains: the standard error of the variance is ~ sqrt(2/2000) = 0.03; 0.15 is 5 SE.
    assert x.var(0).sub(1).abs().max() < 0.15
    assert x.mean(0).abs().max() < 0.15


def test_ladder_is_geometric_and_validated():
    t = ladder(SamplerConfig(temperature=2.0, pt_replicas=4, pt_top_temp=8.0))
    assert torch.allclose(t, torch.tensor([2.0, 4.0, 8.0, 16.0], dtype=torch.float64))
    with pytest.raises(ConfigError, match="pt_replicas"):
        Config().with_value("sampler.pt_replicas", 1)
    with pytest.raises(ConfigError, match="pt_top_temp"):
        Config().with_value("sampler.pt_top_temp", 1.0)


def test_training_with_pt_shows_swap_rates_in_chain_health(window, small_config):
    cfg = small_config(
        **{"sampler.kind": "pt", "sampler.pt_replicas": 4, "sampler.step_size": 0.02}
    )
    win = window(cfg)
    panel = win.w.health
    win.w.health_dock.raise_()
    win.w.play_action.trigger()
    win.wait(lambda: panel.values.get("swaps") is not None)
    # One bar and one number per adjacent pair of the 4 rungs, each a probability.
    text = panel.labels["swaps"].text().split()
    assert len(text) == 3 and all(0.0 <= float(t) <= 1.0 for t in text)
    assert panel.swap_plot.isVisibleTo(panel)
    win.w.close()
