"""Samplers against analytic targets with exact samples and known stationary laws."""

from __future__ import annotations

import math

import pytest
import torch

from ebm_studio.core.config import BufferConfig, SamplerConfig
from ebm_studio.core.metrics import mmd_permutation_test
from ebm_studio.core.models import (
    BananaEnergy,
    GaussianEnergy,
    GaussianMixtureEnergy,
)
from ebm_studio.core.samplers import ChainStarts, Sampler, energy_and_grad


def _run(energy, kind, x0, steps, step_size, seed=0, **kw):
    s = Sampler(SamplerConfig(kind=kind, step_size=step_size, **kw), box=6.0)
    g = torch.Generator().manual_seed(seed)
    x, stats = s.run(energy, x0, steps, g)
    return x, stats


@pytest.mark.parametrize("target", ["banana", "mixture"])
def test_mala_matches_exact_samples(target):
    energy = (
        BananaEnergy()
        if target == "banana"
        else GaussianMixtureEnergy([(-2, -2), (-2, 2), (2, -2), (2, 2)], 0.5)
    )
    g = torch.Generator().manual_seed(1)
    # Symmetric starts: uniform on a box centred on the target (the mixture's basins are
    # symmetric, so each mode gets its exact share even though chains do not cross).
    x0 = (torch.rand(800, 2, generator=g) * 2 - 1) * (4.0 if target == "mixture" else 2.0)
    x, stats = _run(energy, "mala", x0, 600, 0.05)
    assert 0.3 < stats.acceptance < 1.0
    exact = energy.sample(800, torch.Generator().manual_seed(2))
    _, p = mmd_permutation_test(x, exact, torch.Generator().manual_seed(3), n_perm=200)
    assert p > 0.01, f"MALA samples differ from exact samples of {target} (p={p:.3f})"


def test_permutation_test_detects_a_biased_sampler():
    # Negative control: the same test rejects ULA with a large step on the banana.
    energy = BananaEnergy()
    g = torch.Generator().manual_seed(1)
    x, _ = _run(energy, "langevin", torch.randn(800, 2, generator=g), 400, 0.4)
    exact = energy.sample(800, torch.Generator().manual_seed(2))
    _, p = mmd_permutation_test(x, exact, torch.Generator().manual_seed(3), n_perm=200)
    assert p < 0.01


def test_ula_bias_matches_theory_and_shrinks_with_step():
    # For E = x^2/(2 s^2), ULA's stationary variance is s^2 / (1 - eta / (2 s^2)).
    s2 = 1.0
    energy = GaussianEnergy((0.0, 0.0), [[s2, 0.0], [0.0, s2]])
    errs = []
    for eta in (0.4, 0.2, 0.05):
        x, _ = _run(energy, "langevin", torch.zeros(20000, 2), 300, eta)
        var = float(x.var(0).mean())
        theory = s2 / (1 - eta / (2 * s2))
        assert var == pytest.approx(theory, rel=0.04)
        errs.append(abs(var - s2))
    assert errs[0] > errs[1] > errs[2]


def test_mala_removes_the_ula_bias():
    energy = GaussianEnergy((0.0, 0.0), [[1.0, 0.0], [0.0, 1.0]])
    x, _ = _run(energy, "mala", torch.zeros(20000, 2), 300, 0.4)
    assert float(x.var(0).mean()) == pytest.approx(1.0, rel=0.04)  # ULA would give 1.25


def test_rwmh_samples_anisotropic_gaussian():
    energy = GaussianEnergy((0.5, -0.3), [[1.0, 0.6], [0.6, 0.8]])
    x, stats = _run(energy, "rwmh", torch.zeros(10000, 2), 400, 0.8)
    assert 0.2 < stats.acceptance < 0.9
    cov = torch.cov(x.T)
    assert torch.allclose(cov, torch.tensor([[1.0, 0.6], [0.6, 0.8]]), atol=0.06)
    assert torch.allclose(x.mean(0), torch.tensor([0.5, -0.3]), atol=0.05)


def test_temperature_scales_the_stationary_variance():
    energy = GaussianEnergy((0.0, 0.0), [[1.0, 0.0], [0.0, 1.0]])
    x, _ = _run(energy, "mala", torch.zeros(20000, 2), 300, 0.1, temperature=2.0)
    assert float(x.var(0).mean()) == pytest.approx(2.0, rel=0.05)


def test_decoupled_noise_and_clamps():
    energy = GaussianEnergy((0.0, 0.0), [[1.0, 0.0], [0.0, 1.0]])
    # Zero noise: pure gradient descent contracts to the mode.
    x, _ = _run(
        energy, "langevin", torch.full((10, 2), 3.0), 200, 0.1, noise_mode="decoupled", noise=0.0
    )
    assert float(x.abs().max()) < 1e-6
    # Box clamp keeps chains inside.
    x, _ = _run(energy, "langevin", torch.zeros(1000, 2), 50, 2.0, clamp_box=True)
    assert float(x.abs().max()) <= 6.0
    # Gradient clamp bounds the drift of one step.
    s = Sampler(
        SamplerConfig(step_size=1.0, grad_clamp=0.5, noise_mode="decoupled", noise=0.0), box=6.0
    )
    x, _ = s.run(energy, torch.full((4, 2), 5.0), 1, torch.Generator())
    assert torch.allclose(x, torch.full((4, 2), 4.5))


def test_blocked_run_is_reproducible_and_blocks_are_independent():
    energy = BananaEnergy()
    x0 = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    s = Sampler(SamplerConfig(kind="langevin", step_size=0.05), box=6.0)
    a, _ = s.run(energy, x0, 20, torch.Generator().manual_seed(5), block=100)
    b, _ = s.run(energy, x0, 20, torch.Generator().manual_seed(5), block=100)
    assert torch.equal(a, b)
    # The first block's chains depend only on the first block's starts and the stream.
    c, _ = s.run(energy, x0[:100], 20, torch.Generator().manual_seed(5), block=100)
    assert torch.equal(a[:100], c)


def test_energy_and_grad_matches_analytic_gradient():
    energy = GaussianEnergy((0.5, -0.3), [[1.0, 0.6], [0.6, 0.8]])
    x = torch.randn(50, 2)
    e, g = energy_and_grad(energy, x)
    expected = (x - energy.mean) @ energy.prec
    assert torch.allclose(g, expected, atol=1e-5)
    assert torch.allclose(e, energy(x))


def _starts(policy, **kw):
    data = torch.randn(5000, 2, generator=torch.Generator().manual_seed(0)) * 0.1 + 10.0
    cfg = BufferConfig(**kw)
    return ChainStarts(policy, cfg, 4.5, data, torch.Generator().manual_seed(1)), data


def test_data_starts_equal_the_batch():
    s, data = _starts("data")
    batch = data[:64]
    x, info = s.draw(64, batch, torch.Generator())
    assert torch.equal(x, batch) and info.index is None


def test_noise_starts_are_uniform_on_the_box():
    s, data = _starts("noise")
    x, info = s.draw(20000, data[:10], torch.Generator().manual_seed(2))
    assert float(x.abs().max()) <= 4.5
    assert float(x.mean(0).abs().max()) < 0.1
    assert float(x.var(0).mean()) == pytest.approx(4.5**2 / 3, rel=0.03)


@pytest.mark.parametrize("p_noise,p_data", [(0.05, 0.0), (0.0, 0.1), (0.2, 0.3)])
def test_buffer_reinitialisation_fractions(p_noise, p_data):
    s, data = _starts("buffer", size=10000, p_noise=p_noise, p_data=p_data)
    g = torch.Generator().manual_seed(3)
    # Mark every buffer entry far away so re-initialised starts are recognisable.
    s.bank.fill_(-100.0)
    x, info = s.draw(20000, data[:10], g)
    from_noise = (x.abs() <= 4.5).all(1).float().mean()
    from_data = (x > 9.0).all(1).float().mean()
    assert float(from_noise) == pytest.approx(p_noise, abs=0.01)
    assert float(from_data) == pytest.approx(p_data, abs=0.012)
    assert info.frac_noise == pytest.approx(float(from_noise))
    assert info.frac_data == pytest.approx(float(from_data))


def test_buffer_initial_contents_and_write_back():
    s, data = _starts("buffer", size=1000, init="noise")
    assert float(s.bank.abs().max()) <= 4.5
    s2, _ = _starts("buffer", size=1000, init="data")
    assert float(s2.bank.min()) > 9.0
    x, info = s.draw(100, data[:10], torch.Generator().manual_seed(4))
    s.write_back(torch.full_like(x, 7.0), info)
    assert torch.equal(s.bank[info.index], torch.full((100, 2), 7.0))


def test_persistent_chains_continue():
    s, data = _starts("persistent", size=64, p_data=0.0)
    assert float(s.bank.min()) > 9.0  # PCD starts from data
    x, info = s.draw(64, data[:64], torch.Generator())
    moved = x + 1.0
    s.write_back(moved, info)
    x2, _ = s.draw(64, data[:64], torch.Generator())
    assert torch.equal(x2, moved)  # every chain continues where it stopped


def test_persistent_reset_fraction():
    s, data = _starts("persistent", size=20000, p_data=0.25)
    s.bank.fill_(-100.0)
    x, info = s.draw(20000, data[:10], torch.Generator().manual_seed(9))
    assert float((x > 9).all(1).float().mean()) == pytest.approx(0.25, abs=0.012)
    assert info.frac_noise == 0.0


def test_mala_step_adaptation_moves_toward_target():
    energy = GaussianEnergy((0.0, 0.0), [[1.0, 0.0], [0.0, 1.0]])
    s = Sampler(SamplerConfig(kind="mala", step_size=3.0, adapt=True), box=6.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 2, generator=g)
    accs = []
    for _ in range(30):
        x, st = s.run(energy, x, 5, g)
        accs.append(st.acceptance)
    assert accs[0] < 0.4
    assert abs(accs[-1] - 0.574) < 0.08
    assert math.isfinite(s.step_size) and s.step_size < 3.0
