"""The small-multiples window (File > Open sweep...; README.md, Sweeps): one thumbnail per
trial of a finished sweep folder, a double-click opens that trial's checkpoint in the main
window, two selected trials open in compare mode. The folder is made without Ray: the same
trial function and writer the engine uses, called in this process."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from ebm_studio.core.atomic import atomic_write_text
from ebm_studio.core.checkpoint import read_checkpoint
from ebm_studio.core.config import Config
from ebm_studio.sweep.results import write_tables, write_trial
from ebm_studio.sweep.spec import build_spec
from ebm_studio.sweep.trial import run_trial


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    from conftest import tiny_config

    out = tmp_path_factory.mktemp("gui") / "sweep"
    out.mkdir()
    base = tiny_config(**{"train.steps": 3})
    spec = build_spec(base, ["sampler.step_size=0.01,0.02,0.04"], [0, 1])
    atomic_write_text(out / "sweep.json", json.dumps(spec.manifest()))
    for t in spec.trials():
        write_trial(out, t, run_trial(t.config(spec.base).to_dict()), attempts=1)
    write_tables(out, ["sampler.step_size"], spec.trials())
    return out


def test_window_shows_one_thumbnail_per_trial(qtbot, sweep_folder):
    from ebm_studio.gui.sweep_window import SweepWindow

    win = SweepWindow(sweep_folder)
    qtbot.addWidget(win)
    win.show()
    assert len(win.thumbs) == 6
    laid_out = [th for th in win.thumbs.values() if win.grid.indexOf(th) >= 0 and th.isVisible()]
    assert len(laid_out) == 6
    assert all(not th.pixmap().isNull() for th in laid_out)
    assert all(th.toolTip().split("KL ")[1] for th in laid_out)  # titled with its final KL
    # rows by step size (3), columns by seed (2): each thumb in its own cell
    cells = {win.grid.getItemPosition(win.grid.indexOf(th))[:2] for th in laid_out}
    assert (
        len(cells) == 6 and {r for r, _ in cells} == {1, 2, 3} and {c for _, c in cells} == {1, 2}
    )
    win.seed_box.setCurrentIndex(2)  # seed 1 only
    assert sum(th.isVisible() for th in win.thumbs.values()) == 3
    win.close()


def test_double_click_opens_that_trial_in_the_main_window(window, qtbot, sweep_folder):
    from ebm_studio.gui.sweep_actions import open_sweep

    h = window()
    win = open_sweep(h.w, sweep_folder)
    assert win is not None
    trial = json.loads((sweep_folder / "trials" / "0005" / "result.json").read_text())
    want = read_checkpoint(sweep_folder / "trials" / "0005" / "checkpoint.safetensors").config
    assert want.sampler.step_size == trial["overrides"][0][1] == 0.04 and trial["seed"] == 1
    opened: list[str] = []
    win.checkpoint_requested.connect(opened.append)
    qtbot.mouseDClick(win.thumbs["0005"], Qt.MouseButton.LeftButton)
    assert opened == [str(sweep_folder / "trials" / "0005" / "checkpoint.safetensors")]
    h.wait(lambda: h.c.config.sampler.step_size == 0.04 and h.c.config.train.seed == 1)
    assert not h.errors
    win.close()


def test_two_selected_trials_open_in_compare_mode(window, qtbot, sweep_folder):
    """Arm A continues trial 0000's checkpoint and arm B trial 0004's (same seed, step size
    0.01 and 0.04): their energies on a fixed batch are the checkpoints'."""
    import torch

    from ebm_studio.core.checkpoint import LoadedModel, load_checkpoint
    from ebm_studio.gui.sweep_actions import open_sweep

    h = window()
    win = open_sweep(h.w, sweep_folder)
    pairs: list[tuple[str, str]] = []
    win.compare_requested.connect(lambda a, b: pairs.append((a, b)))
    for tid in ("0000", "0004"):
        qtbot.mouseClick(win.thumbs[tid], Qt.MouseButton.LeftButton)
    assert win.compare_button.isEnabled()
    qtbot.mouseClick(win.compare_button, Qt.MouseButton.LeftButton)
    assert pairs == [(str(sweep_folder / "trials" / "0000"), str(sweep_folder / "trials" / "0004"))]
    cmp = h.w.sweep_windows[-1]
    assert cmp is not win
    qtbot.addWidget(cmp)  # closed (its worker stopped) even if an assertion fails
    loaded: list = []
    cmp.controller.checkpoints_loaded.connect(loaded.append)
    h.wait(lambda: bool(loaded) and cmp.controller.state == "paused")
    x = torch.linspace(-3, 3, 64).reshape(32, 2)
    want = [load_checkpoint(win.checkpoint(t)).energy(x) for t in ("0000", "0004")]
    assert not torch.equal(*want)  # the two trials learned different weights
    got = [LoadedModel(t).energy(x) for t in cmp.controller.thread.trainers]
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert [t.step_count for t in cmp.controller.thread.trainers] == [3, 3]
    assert cmp.controller.config.sampler.step_size == 0.01
    assert cmp.overrides_edit.text() == "sampler.step_size=0.04"
    cmp.close()
    win.close()


def test_two_trials_on_different_seeds_are_refused(window, qtbot, sweep_folder):
    from ebm_studio.gui.sweep_actions import compare_trials, open_sweep

    h = window()
    win = open_sweep(h.w, sweep_folder)
    n = len(h.w.sweep_windows)
    trials = sweep_folder / "trials"
    assert compare_trials(h.w, str(trials / "0000"), str(trials / "0001"), win) is None
    assert "train.seed is 0 in arm A and 1 in arm B" in win.status.text()
    assert "train.seed" in h.w.statusBar().currentMessage()
    assert len(h.w.sweep_windows) == n  # no compare window opened
    win.close()


def test_not_a_sweep_folder_is_one_message(window, tmp_path):
    from ebm_studio.gui.sweep_actions import open_sweep

    h = window()
    assert open_sweep(h.w, tmp_path) is None
    assert "not a sweep folder" in h.w.statusBar().currentMessage()
    assert isinstance(Config(), Config)


def test_sweep_dialog_checks_input_before_launching(window, tmp_path):
    from ebm_studio.gui.sweep_actions import SweepDialog

    h = window()
    dlg = SweepDialog(h.w)
    dlg.out.setText(str(tmp_path / "sw"))
    dlg.grids.setPlainText("sampler.step_size=log:1e-2:1e-4:3")
    dlg.launch()
    assert "log:1e-2:1e-4" in dlg.error.text()
    assert h.w.sweep_process is None and not (tmp_path / "sw").exists()
    dlg.grids.setPlainText("sampler.step_size=0.01,0.02\nobjective.alpha=0.1,0.2")
    dlg.seeds.setText("0-1")
    args = dlg.arguments()
    assert args[:3] == ["-m", "ebm_studio.cli", "sweep"]
    assert args[args.index("--out") + 1] == str(tmp_path / "sw")
    assert [args[i + 1] for i, a in enumerate(args) if a == "--grid"] == [
        "sampler.step_size=0.01,0.02",
        "objective.alpha=0.1,0.2",
    ]
    dlg.close()


def test_sweep_dialog_remembers_its_values(window, tmp_path):
    from PySide6.QtCore import QSettings

    from ebm_studio.gui.sweep_actions import SweepDialog

    h = window()
    h.w.settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dlg = SweepDialog(h.w)
    dlg.grids.setPlainText("objective.alpha=0.1,0.3")
    dlg.seeds.setText("0-4")
    dlg.out.setText(str(tmp_path / "mine"))
    dlg.remember()
    dlg.close()
    again = SweepDialog(h.w)
    assert again.grids.toPlainText() == "objective.alpha=0.1,0.3"
    assert again.seeds.text() == "0-4" and again.out.text() == str(tmp_path / "mine")
    again.close()
