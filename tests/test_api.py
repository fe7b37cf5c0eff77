"""The Python API (docs/api.md): its example runs as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import ebm_studio

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_the_documented_example_runs():
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(code) == 1
    exec(compile(code[0], str(DOC), "exec"), {})


def test_sample_validates_settings_like_a_preset():
    with pytest.raises(ValueError, match="sampler.kind"):
        ebm_studio.sample(lambda x: (x**2).sum(-1), torch.zeros(3, 2), sampler="gibbs")


def test_train_with_the_mcmc_objective_on_a_user_tensor_moves_energy_toward_data():
    g = torch.Generator().manual_seed(0)
    data = 0.3 * torch.randn(500, 1, 3, 3, generator=g) + 0.5
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(9, 32),
        torch.nn.SiLU(),
        torch.nn.Linear(32, 1),
        torch.nn.Flatten(0),
    )
    res = ebm_studio.train(
        net,
        data,
        objective="mcmc",
        steps=60,
        start="buffer",
        settings={
            "sampler.steps": 5,
            "sampler.n_chains": 32,
            "buffer.size": 100,
            "train.batch_size": 32,
        },
    )
    assert len(res.history) == 60 and res.module is net
    # The data's energy falls below the chains' (the contrastive gap opens).
    assert res.history[-1]["e_pos"] < res.history[-1]["e_neg"]
    assert res.objective.buffer().shape == (100, 1, 3, 3)
