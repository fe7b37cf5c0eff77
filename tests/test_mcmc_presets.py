"""Each MCMC preset, trained by the CLI on 8 Gaussians and on rings, reaches its documented KL.

Each (preset, dataset) pair trains once per session (tests/preset_runs.py); several assertions
share it. Marked slow: they run in CI.
"""

from __future__ import annotations

import pytest
from preset_runs import train_preset

MCMC_PRESETS = ["cd", "pcd", "buffer-ml", "buffer-truecd", "short-run"]
DATASETS = ["8gaussians", "rings"]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", MCMC_PRESETS)
def test_preset_reaches_documented_kl(name, dataset):
    run = train_preset(name, dataset)
    bound = run.preset.kl_bound[dataset]
    first, last = run.rows[0], run.final
    print(f"{name} {dataset}: KL {last['kl']:.3f} (bound {bound}) in {run.seconds:.0f} s")
    assert last["kl"] <= bound, f"{name} on {dataset}: KL {last['kl']:.3f} > {bound}"
    # Training did the work: the KL fell from the first evaluation.
    assert last["kl"] < first["kl"]
    # The grid normaliser is converged: NLL = KL + data entropy, both from one log Z.
    assert abs(last["nll"] - last["kl"] - (first["nll"] - first["kl"])) < 1e-3
    # Chains are finite and inside a sane range of the box.
    tr = run.trainer()
    ch = tr.objective.chains()
    assert ch is not None and bool((ch.abs() < 10 * tr.box).all())


@pytest.mark.parametrize("name", ["pcd", "buffer-ml"])
def test_maximum_likelihood_presets_document_at_most_a_tenth_of_a_nat(name):
    from ebm_studio.core.presets import load_preset

    p = load_preset(name)
    assert all(p.kl_bound[d] <= 0.1 for d in DATASETS)


def test_each_preset_documents_both_datasets():
    from ebm_studio.core.presets import load_preset

    for name in MCMC_PRESETS:
        p = load_preset(name)
        assert set(DATASETS) <= set(p.kl_bound), name
        assert p.config.train.steps > 0 and p.config.objective.name == "mcmc"
