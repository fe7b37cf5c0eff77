"""The hand-written MLP gradient gives the autograd path's energies, gradients and chains."""

from __future__ import annotations

import pytest
import torch

from ebm_studio.core.config import ModelConfig, SamplerConfig
from ebm_studio.core.fast_energy import FastMLPEnergy
from ebm_studio.core.models import BananaEnergy, build_model
from ebm_studio.core.samplers import Sampler, energy_and_grad


@pytest.mark.parametrize("act", ["silu", "softplus", "tanh", "leakyrelu", "relu", "elu"])
@pytest.mark.parametrize("sn", [False, True])
def test_fast_gradient_equals_autograd(act, sn):
    torch.manual_seed(0)
    m = build_model(ModelConfig(width=64, depth=3, activation=act, spectral_norm=sn))
    m.eval()
    x = torch.randn(500, 2) * 3
    fast = FastMLPEnergy.from_module(m)
    assert fast is not None
    e, g = fast.energy_and_grad(x)
    e2, g2 = energy_and_grad(m, x)
    torch.testing.assert_close(e, e2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g, g2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast(x), e2, rtol=1e-5, atol=1e-5)


def test_non_mlp_energies_use_autograd():
    assert FastMLPEnergy.from_module(BananaEnergy()) is None


@pytest.mark.parametrize("kind", ["langevin", "mala", "rwmh"])
def test_fast_and_eager_samplers_give_the_same_chains(kind):
    torch.manual_seed(1)
    m = build_model(ModelConfig(width=32, depth=2))
    x0 = torch.randn(256, 2)
    cfg = SamplerConfig(kind=kind, step_size=0.02)
    a, sa = Sampler(cfg, 4.5, fast=True).run(m, x0, 30, torch.Generator().manual_seed(3))
    b, sb = Sampler(cfg, 4.5, fast=False).run(m, x0, 30, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    if sa.acceptance is not None:
        assert sa.acceptance == pytest.approx(sb.acceptance, abs=0.01)
