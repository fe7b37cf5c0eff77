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


@pytest.mark.parametrize(
    "opts",
    [{}, {"clamp_box": True, "grad_clamp": 0.5, "noise_mode": "decoupled", "noise": 0.3}],
    ids=["plain", "clamped-decoupled"],
)
def test_fused_step_gives_the_autograd_chains(opts):
    """The fused ULA step (used for every MLP Langevin run) against the autograd reference,
    with the box clamp, gradient clamp and decoupled noise that it implements itself."""
    torch.manual_seed(2)
    m = build_model(ModelConfig(width=32, depth=3))
    x0 = torch.randn(300, 2) * 3
    cfg = SamplerConfig(step_size=0.05, **opts)
    a, sa = Sampler(cfg, 2.0, fast=True).run(m, x0, 25, torch.Generator().manual_seed(4))
    b, sb = Sampler(cfg, 2.0, fast=False).run(m, x0, 25, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert sa.mean_energy == pytest.approx(sb.mean_energy, rel=1e-4, abs=1e-5)
    assert sa.grad_norm == pytest.approx(sb.grad_norm, rel=1e-4)
    if opts.get("clamp_box"):
        assert a.abs().max() <= 2.0


def _compiled_or_skip():
    from ebm_studio.core import fast_energy

    if fast_energy.compiled_langevin_step() is None or not fast_energy.compile_available():
        pytest.skip("torch.compile is not available on this machine")
    return fast_energy


@pytest.mark.slow
def test_compiled_step_gives_the_eager_chains():
    """The compiled Langevin step against the eager one, over several block shapes (a full
    block and a remainder) and a live step-size change (a 0-d tensor, not a constant baked into
    the compiled code)."""
    fast_energy = _compiled_or_skip()
    torch.manual_seed(5)
    m = build_model(ModelConfig(width=64, depth=3))
    x0 = torch.randn(700, 2) * 2
    runs = {}
    for compiled in (False, True):
        s = Sampler(SamplerConfig(step_size=0.02, compile=compiled), 4.5)
        gen = torch.Generator().manual_seed(6)
        x, st1 = s.run(m, x0, 15, gen, block=512)
        s.step_size = 0.005
        x, st2 = s.run(m, x, 15, gen, block=512)
        runs[compiled] = (x, st1, st2)
    if not fast_energy.compile_available():
        pytest.skip("torch.compile failed on this machine; the eager fallback ran")
    (a, a1, a2), (b, b1, b2) = runs[False], runs[True]
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert not torch.equal(a, x0)
    for sa, sb in ((a1, b1), (a2, b2)):
        assert sb.mean_energy == pytest.approx(sa.mean_energy, rel=1e-4, abs=1e-5)
        assert sb.grad_norm == pytest.approx(sa.grad_norm, rel=1e-4)


def test_failed_compilation_falls_back_to_the_same_chains(monkeypatch):
    """If the compiled step raises (e.g. no C++ compiler), the run continues eagerly with the
    same random draws, and compilation is not retried."""
    from ebm_studio.core import fast_energy

    calls = []

    def broken(*args):
        calls.append(1)
        raise RuntimeError("no compiler")

    monkeypatch.setattr(fast_energy, "_compiled", broken)
    monkeypatch.setattr(fast_energy, "_compile_failed", False)
    torch.manual_seed(7)
    m = build_model(ModelConfig(width=32, depth=2))
    x0 = torch.randn(200, 2)
    runs = [
        Sampler(cfg, 4.5).run(m, x0, 10, torch.Generator().manual_seed(8))[0]
        for cfg in (SamplerConfig(compile=True), SamplerConfig())
    ]
    a, b = runs
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(calls) == 1 and not fast_energy.compile_available()


def test_worker_threads_never_compile(monkeypatch):
    """torch.compile is not thread-safe: a sampler asked to compile in another thread (the
    studio's workers) runs the eager step, with the chains the main thread's eager run gives."""
    import threading

    from ebm_studio.core import fast_energy

    calls = []

    def spy(*args):  # stands in for the compiled step: records the call, runs the eager one
        calls.append(1)
        return fast_energy.langevin_step(*args)

    monkeypatch.setattr(fast_energy, "_compiled", spy)
    monkeypatch.setattr(fast_energy, "_compile_failed", False)
    torch.manual_seed(3)
    m = build_model(ModelConfig(width=32, depth=2))
    x0 = torch.randn(300, 2)

    def run(cfg):
        return Sampler(cfg, 4.5).run(m, x0, 10, torch.Generator().manual_seed(4))[0]

    out = {}
    t = threading.Thread(target=lambda: out.setdefault("x", run(SamplerConfig(compile=True))))
    t.start()
    t.join()
    assert not calls  # the compiled step was never called from the worker
    torch.testing.assert_close(out["x"], run(SamplerConfig()), rtol=0, atol=0)
    run(SamplerConfig(compile=True))  # the main thread does call it
    assert calls


@pytest.mark.parametrize("act", ["silu", "softplus", "tanh", "leakyrelu", "relu", "elu"])
def test_reused_buffers_give_the_module_and_autograd_values(act):
    """The CPU path writes the hidden layers into buffers reused from call to call. Block by
    block (a remainder block uses the buffers' first rows) it gives the module's energies and
    autograd's gradients, and what one call returned is not overwritten by the next."""
    from ebm_studio.core.metrics import eval_blocked

    torch.manual_seed(3)
    m = build_model(ModelConfig(width=48, depth=3, activation=act)).eval()
    x = torch.randn(1000, 2) * 3
    fast = FastMLPEnergy.from_module(m)
    want_e, want_g = energy_and_grad(m, x)
    first = fast(x[:300])
    torch.testing.assert_close(eval_blocked(fast, x, block=256), want_e, rtol=1e-5, atol=1e-5)
    buf = fast._buf
    assert buf is not None and buf.rows == 300  # the first call's size, reused since
    torch.testing.assert_close(first, want_e[:300], rtol=1e-5, atol=1e-5)

    ws = fast.workspace(x[:400])
    e1, g1 = fast.energy_and_grad(x[:400], ws)
    assert fast.workspace(x[400:700], ws) is ws  # fewer rows: the same buffers
    e2, g2 = fast.energy_and_grad(x[400:700], ws)
    for (e, g), sl in (((e1, g1), slice(0, 400)), ((e2, g2), slice(400, 700))):
        torch.testing.assert_close(e, want_e[sl], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g, want_g[sl], rtol=1e-4, atol=1e-5)
    assert fast.workspace(x, ws) is not ws  # more rows than it has: new buffers


def test_blocked_sampler_with_a_remainder_block_gives_the_autograd_chains():
    """Blocks of 128 chains out of 300 (the last block uses part of the reused buffers); the
    reference runs the same blocks, so the random draws match."""
    torch.manual_seed(4)
    m = build_model(ModelConfig(width=32, depth=3))
    x0 = torch.randn(300, 2) * 2
    cfg = SamplerConfig(step_size=0.03)
    a, sa = Sampler(cfg, 4.5).run(m, x0, 20, torch.Generator().manual_seed(1), block=128)
    b, sb = Sampler(cfg, 4.5, fast=False).run(
        m, x0, 20, torch.Generator().manual_seed(1), block=128
    )
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert sa.mean_energy == pytest.approx(sb.mean_energy, rel=1e-4, abs=1e-5)
