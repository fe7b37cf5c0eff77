"""sweep.pdf's content (README.md, Sweeps): KL against the swept value on a log axis and small
multiples drawn by the figures module on one shared colour scale. Fabricated records and tiny
untrained checkpoints: no Ray, no training."""

from __future__ import annotations

import pytest
from conftest import tiny_config

from ebm_studio.core.checkpoint import save_checkpoint
from ebm_studio.core.figures.data import grid_quantity
from ebm_studio.core.figures.panels import landscape_norm
from ebm_studio.core.figures.style import QUANTITY_LABELS
from ebm_studio.core.trainer import Trainer
from ebm_studio.sweep.plots import THUMB_RES, write_sweep_figures
from ebm_studio.sweep.results import trial_dir
from ebm_studio.sweep.spec import build_spec


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    spec = build_spec(tiny_config(), ["sampler.step_size=0.01,0.02"], [0, 1])
    records, grids = {}, {}
    for i, t in enumerate(spec.trials()):
        failed = i == 3  # a failed trial gets no thumbnail
        records[t.id] = {
            "status": "failed" if failed else "ok",
            "metrics": {} if failed else {"kl": 0.1 * (i + 1)},
        }
        if not failed:
            trainer = Trainer(t.config(spec.base), pretrain=False)
            trial_dir(out, t.id).mkdir(parents=True)
            save_checkpoint(trainer, trial_dir(out, t.id) / "checkpoint.safetensors")
            grids[t.id] = (trainer.energy_grid(THUMB_RES), trainer.box)
    fig = write_sweep_figures(out, spec, records)
    return out, fig, records, grids


def thumbs(fig):
    return [ax for ax in fig.axes if ax.images]


def test_files_are_written(sweep):
    out = sweep[0]
    assert (out / "sweep.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_one_landscape_per_finished_trial_titled_with_its_kl(sweep):
    _, fig, records, grids = sweep
    axes = thumbs(fig)
    assert len(axes) == len(grids) == 3
    for ax, tid in zip(axes, grids):
        assert f"KL {records[tid]['metrics']['kl']:.3g}" in ax.get_title()


def test_small_multiples_share_one_colour_scale_with_one_labelled_bar(sweep):
    _, fig, _, grids = sweep
    want = landscape_norm([grid_quantity(e, box, "density") for e, box in grids.values()])
    for ax in thumbs(fig):
        norm = ax.images[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((want.vmin, want.vmax))
    bars = [ax for ax in fig.axes if ax.get_ylabel() == QUANTITY_LABELS["density"]]
    assert len(bars) == 1


def test_kl_axis_is_logarithmic(sweep):
    _, fig, _, _ = sweep
    kl_axes = [ax for ax in fig.axes if ax.get_xlabel() == "sampler.step_size"]
    assert len(kl_axes) == 1 and kl_axes[0].get_yscale() == "log"


def test_a_seeds_only_sweep_plots_each_seed(tmp_path):
    """No grid: the KL is drawn against the seed, one trial per point. exp(log(0.003)) is
    below 0.003 in the last bit, which once gave matplotlib a negative error bar."""
    spec = build_spec(tiny_config(), [], [0, 1])
    records = {t.id: {"status": "ok", "metrics": {"kl": 0.003}} for t in spec.trials()}
    write_sweep_figures(tmp_path, spec, records)
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG")
