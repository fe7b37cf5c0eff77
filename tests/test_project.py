"""Fast checks of what the project ships, without training: the preset files (both datasets
documented, texts, citations, each one trained in CI) and the Qt-free core."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from preset_runs import CI_DATASET

from ebm_studio.core.presets import list_presets, load_preset

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ["8gaussians", "rings"]
MCMC_PRESETS = ["cd", "pcd", "buffer-ml", "buffer-truecd", "short-run"]
OBJECTIVE_PRESETS = ["nce", "fce", "snl", "sm", "dsm", "ssm"]
# Trained in test_image_presets.py and test_image_experiments.py (img-noise-funnel is img-ml's
# run: that test samples img-ml's checkpoint).
IMAGE_PRESETS = ["img-ml", "img-truecd-vs-ml", "img-noise-funnel", "img-elastic"]
EXPERIMENTS = [
    "exp-truecd-vs-ml",
    "exp-noise-funnel",
    "exp-augment-mixing",
    "exp-nce-noise",
    "exp-snl-vs-nce",
    "exp-kl-sign",
    "exp-sm-weights",
]


def test_every_shipped_preset_is_trained_in_ci():
    """A preset added to the package is an experiment (test_experiments.py), an image preset
    (test_image_presets.py) or has a CI dataset (test_mcmc_presets.py,
    test_objective_presets.py): none goes untrained."""
    shipped = {p.name for p in list_presets()}
    assert shipped == set(CI_DATASET) | set(EXPERIMENTS) | set(IMAGE_PRESETS)
    assert sorted(CI_DATASET) == sorted(MCMC_PRESETS + OBJECTIVE_PRESETS)


def test_each_preset_documents_both_datasets():
    for name in MCMC_PRESETS + OBJECTIVE_PRESETS:
        p = load_preset(name)
        assert set(DATASETS) <= set(p.kl_bound), name
        assert p.config.train.steps > 0, name
        assert p.description and p.explanation and p.hint, name
    for name in MCMC_PRESETS:
        assert load_preset(name).config.objective.name == "mcmc", name
    for name in OBJECTIVE_PRESETS:
        assert load_preset(name).config.objective.name == name, name


def test_maximum_likelihood_presets_document_at_most_a_tenth_of_a_nat():
    # The objectives that must fit within a tenth of a nat document so on both datasets.
    for name in ("pcd", "buffer-ml", "nce", "snl"):
        assert all(load_preset(name).kl_bound[d] <= 0.1 for d in DATASETS), name


def test_every_experiment_is_shipped_with_a_guide():
    names = {p.name for p in list_presets()}
    for name in EXPERIMENTS:
        assert name in names
        p = load_preset(name)
        assert p.description and "\n" not in p.description
        assert p.guide is not None and p.guide.claim and p.guide.steps, name
        # it names its source as a published paper: authors and year
        assert re.search(r"(&|et al\.) [^;]*\b(19|20)\d\d\b", p.guide.citation), name
        assert p.config.train.steps <= 1500  # small budgets: each arm well under a minute


def test_every_experiment_documents_a_valid_five_seed_sweep():
    """Each experiment names the sweep commands that measure its claim over seeds 0-4
    (docs/experiments.md quotes their results); each must parse and build, and the claims
    measured beyond KL, NLL and log Z must be the ones ``core.claims`` knows."""
    import shlex

    from ebm_studio.cli import make_parser
    from ebm_studio.core.claims import CLAIMS
    from ebm_studio.sweep.cli import base_config
    from ebm_studio.sweep.spec import build_spec, parse_seeds

    for name in EXPERIMENTS:
        sweeps = load_preset(name).guide.sweeps
        assert sweeps, name
        for cmd in sweeps:
            args = make_parser().parse_args(shlex.split(cmd)[1:])
            assert args.preset == name and parse_seeds(args.seeds) == [0, 1, 2, 3, 4], cmd
            _, cfg = base_config(args.preset, args.set, args.steps)
            build_spec(cfg, args.grid or [], parse_seeds(args.seeds), preset=name)
    assert set(CLAIMS) <= set(EXPERIMENTS)


def test_core_and_cli_import_without_qt():
    """Every module of ebm_studio.core, and the CLI, import without PySide6 or pyqtgraph."""
    code = (
        "import sys, pkgutil, importlib, ebm_studio.core as c, ebm_studio.cli\n"
        "for m in pkgutil.walk_packages(c.__path__, 'ebm_studio.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "qt = ('PySide6', 'pyqtgraph', 'shiboken6')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in qt]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
