"""File > Export > Publication figure in the studio (offscreen): the core figure module drawn
from what the window shows, at the same step; compare exports both arms on one colour scale."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDialog

from ebm_studio.core.figures import grid_quantity
from ebm_studio.gui import publication
from ebm_studio.gui.landscape import ShownLayers
from ebm_studio.gui.publication import PublicationDialog


@pytest.fixture
def saved(monkeypatch, tmp_path):
    """The dialog answers Save with ``tmp_path/fig.pdf``; every figure saved is recorded."""
    figures = []
    real = publication.save_figure

    def spy(fig, path, *args, **kwargs):
        figures.append(fig)
        return real(fig, path, *args, **kwargs)

    def accept(dialog):
        dialog.path.setText(str(tmp_path / "fig.pdf"))
        dialog.log_kl.setChecked(True)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(publication, "save_figure", spy)
    monkeypatch.setattr(PublicationDialog, "exec", accept)
    return figures, tmp_path / "fig.pdf"


def images(fig):
    return [ax for ax in fig.axes if ax.images]


def test_publication_figure_shows_the_current_frame(window, small_config, saved):
    figures, path = saved
    win = window(small_config(**{"train.eval_every": 5, "view.heatmap": "log-density"}))
    win.train(10)
    win.wait(lambda: win.w.landscape.shown_layers().energy is not None)
    shown = win.w.landscape.shown_layers()
    win.w.publication_action.trigger()
    assert path.read_bytes().startswith(b"%PDF")
    (fig,) = figures
    (land,) = [ax for ax in images(fig) if ax.get_title() == "log-density"]
    assert land.get_xlim() == pytest.approx((-shown.box, shown.box))
    # The heatmap is the view's grid (same step), as the view's quantity.
    expect = grid_quantity(shown.energy, shown.box, "log-density")
    assert np.allclose(land.images[0].get_array(), expect)
    assert f"step {shown.last.step}" in fig.get_suptitle()
    kl = next(ax for ax in fig.axes if ax.get_ylabel() == "KL (nats)")
    assert kl.get_yscale() == "log"


def test_compare_exports_both_arms_on_one_colour_scale(compare, wait, saved):
    figures, path = saved
    w = compare("sampler.step_size=0.02")
    w.train_n.setValue(10)
    w.train_n_action.trigger()
    wait(lambda: w.last_frame.step == 10)
    wait(lambda: all(v.landscape.shown_layers().energy is not None for v in w.views))
    w.publication_action.trigger()
    assert path.exists()
    (fig,) = figures
    lands = images(fig)
    assert len(lands) == 2
    norms = [ax.images[0].norm for ax in lands]
    assert norms[0] is norms[1]  # one shared colour scale ...
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1  # ... with one colour bar
    kl = next(ax for ax in fig.axes if ax.get_ylabel() == "KL (nats)")
    assert sorted(t.get_text() for t in kl.get_legend().get_texts()) == ["A", "B"]


def test_nothing_drawn_yet_is_one_sentence_and_no_file(window, small_config, tmp_path):
    win = window(small_config())
    errors = []
    win.w.show_error = errors.append
    win.w.landscape.shown_layers = lambda: ShownLayers(1.0, None, None, None, None)
    assert not publication.export_publication(win.w, tmp_path / "fig.pdf")
    assert len(errors) == 1 and "not been drawn" in errors[0]
    assert list(tmp_path.iterdir()) == []
