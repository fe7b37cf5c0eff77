"""``ebm_studio.studio(energy_or_path)``: the studio opened from Python on a checkpoint or on
one's own 2D energy (offscreen; ``block=False`` returns the window instead of running Qt's
event loop)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from conftest import TIMEOUT, tiny_config

import ebm_studio
from ebm_studio.core.checkpoint import CheckpointError, save_checkpoint
from ebm_studio.core.compose import ComposeError
from ebm_studio.core.trainer import Trainer

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


@pytest.fixture
def opened(qtbot, tmp_path):
    """``opened(energy_or_path, **kw)``: the studio window, shown, closed after the test."""
    from PySide6.QtCore import QSettings

    made = []
    studio = ebm_studio.studio  # the real one, should a test patch the module's

    def make(what, **kw):
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = studio(what, block=False, settings=settings, torch_threads=1, **kw)
        qtbot.addWidget(w)
        made.append(w)
        # Connected before Qt runs an event: the worker's answer to the Load is queued.
        w.loaded = []
        w.controller.checkpoint_loaded.connect(lambda *a: w.loaded.append(a))
        return w

    yield make
    for w in made:
        w.close()


def loaded_trainer(qtbot, w, step: int):
    c = w.controller
    qtbot.waitUntil(
        lambda: bool(w.loaded) and c.state == "paused" and c.thread.trainers[0].step_count == step,
        timeout=TIMEOUT,
    )
    return c.thread.trainers[0]


def test_studio_opens_a_checkpoint_with_its_weights_and_settings(opened, qtbot, tmp_path):
    config = tiny_config(**{"data.name": "moons", "model.width": 16})
    trainer = Trainer(config)
    trainer.train(7)
    path = tmp_path / "run.safetensors"
    save_checkpoint(trainer, path)
    w = opened(str(path))
    loaded = loaded_trainer(qtbot, w, 7)
    assert w.controller.config == config and "run.safetensors" in w.windowTitle()
    for (k, a), b in zip(trainer.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_a_bad_checkpoint_is_refused_with_one_sentence_before_any_window(tmp_path):
    bad = tmp_path / "notes.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError) as err:
        ebm_studio.studio(str(bad), block=False)
    assert "notes.safetensors" in str(err.value) and "\n" not in str(err.value)


def test_the_documented_example_opens_the_studio_on_a_users_2d_energy(opened, qtbot, monkeypatch):
    # docs/api.md's ```py example, run as written but without blocking (and a shorter fit).
    code = re.findall(r"```py\n(.*?)```", DOC.read_text(), re.S)
    assert len(code) == 1
    windows = []
    monkeypatch.setattr(
        ebm_studio, "studio", lambda e, **kw: windows.append(opened(e, distil_steps=400, **kw))
    )
    space: dict = {}
    exec(compile(code[0], str(DOC), "exec"), space)
    energy, (w,) = space["two_wells"], windows
    loaded = loaded_trainer(qtbot, w, 0)
    assert loaded.config.data.name == "drawn" and loaded.box == 3.0
    # The studio's model holds the user's energy: up to a constant, the same landscape.
    pts = (torch.rand(400, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 2.5
    with torch.no_grad():
        mine = energy(pts)
        theirs = loaded.model(pts.to(next(loaded.model.parameters()).dtype)).reshape(-1)
    keep = mine < mine.min() + 6  # where the density is (the fit clips far walls)
    err = (theirs[keep] - mine[keep]) - (theirs[keep] - mine[keep]).mean()
    # 0.11 measured (grid KL 0.002 nats); the untrained MLP the window starts with is 1.35 off.
    assert float(err.abs().mean()) < 0.3, float(err.abs().mean())
    # Its data set was drawn from the energy's density: both wells, evenly.
    x = loaded.train_x
    assert 0.35 < float((x[:, 0] > 0).float().mean()) < 0.65


def test_an_energy_of_the_wrong_shape_or_kind_is_refused_with_one_sentence():
    with pytest.raises(ComposeError, match=r"shape \(N,\).*returned \(3, 2\)"):
        ebm_studio.studio(lambda x: x, block=False)
    with pytest.raises(ComposeError, match="checkpoint path or a callable"):
        ebm_studio.studio(42, block=False)
    with pytest.raises(ComposeError, match="no finite normaliser"):
        ebm_studio.studio(lambda x: -(x**2).sum(-1) * math.inf, block=False)
