"""CUDA checks (``pytest -m gpu``; bench/gpu_check.sh runs them): skipped without CUDA."""

from __future__ import annotations

import math

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("objective", ["mcmc", "nce", "fce", "sm", "dsm", "ssm", "snl"])
def test_every_objective_trains_on_cuda(small_config, objective):
    from ebm_studio.core.trainer import Trainer

    cfg = small_config(**{"objective.name": objective, "train.device": "cuda"})
    cfg = cfg.with_value("objective.flow_pretrain", 10).with_value("train.eval_every", 5)
    t = Trainer(cfg)
    t.train(10)
    assert t.device.type == "cuda" and next(t.model.parameters()).is_cuda
    assert math.isfinite(t.history[-1]["kl"])
    snap = t.snapshot(res=32)
    assert snap.energy is not None and snap.device.startswith("cuda")


def test_cuda_run_matches_its_cpu_twin_at_the_start(small_config):
    # Same seed: the data and the initial network are drawn on the CPU, so both devices start
    # from the same landscape (float32 grids agree to rounding).
    from ebm_studio.core.trainer import Trainer

    cpu = Trainer(small_config())
    gpu = Trainer(small_config(**{"train.device": "cuda"}))
    assert torch.equal(cpu.train_x, gpu.train_x.cpu())
    a, b = cpu.energy_grid(32), gpu.energy_grid(32)
    assert abs(a - b).max() < 1e-3 * max(1.0, abs(a).max())


def test_worker_moves_a_run_to_cuda(worker):
    from ebm_studio.worker.commands import MoveDevice, SetPlaying

    h = worker().start()
    h.thread.send(MoveDevice("cuda"))
    h.thread.send(SetPlaying(True))
    h.wait(lambda: h.last.step >= 5 and h.last.arms[0].device.startswith("cuda"))
    assert not h.errors
