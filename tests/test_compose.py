"""Composed energies (core/compose.py): exact log Z on the grid, KL to a truth, the headless
``ebm-studio compose`` writing a checkpoint the studio opens."""

from __future__ import annotations

import math

import pytest
import torch

from ebm_studio.cli import main
from ebm_studio.core.checkpoint import restore_trainer
from ebm_studio.core.compose import ComposeError, compose, load_source, measure
from ebm_studio.core.models import GaussianEnergy


def _normalised(g: GaussianEnergy):
    """-log N(x; m, S) in float64: the energy of a density with Z = 1."""
    return lambda x: g(x.float()).double() + g.log_z


def test_product_of_two_gaussians_has_the_closed_form_log_z():
    m1, s1 = (0.5, -0.3), [[0.6, 0.2], [0.2, 0.4]]
    m2, s2 = (-0.4, 0.2), [[0.3, -0.1], [-0.1, 0.5]]
    a, b = GaussianEnergy(m1, s1), GaussianEnergy(m2, s2)
    energy = compose(_normalised(a), _normalised(b), "product", box=5.0)
    # int N(x; m1, S1) N(x; m2, S2) dx = N(m1; m2, S1 + S2)
    s = torch.tensor(s1, dtype=torch.float64) + torch.tensor(s2, dtype=torch.float64)
    d = torch.tensor(m1, dtype=torch.float64) - torch.tensor(m2, dtype=torch.float64)
    closed = float(
        -0.5 * d @ torch.linalg.solve(s, d) - math.log(2 * math.pi) - 0.5 * torch.logdet(s)
    )
    got = measure(energy, None, box=5.0, res=400).log_z
    # Midpoint rule on a smooth integrand, h = 0.025: error O(h^2 |Hessian|) ~ 1e-4.
    assert got == pytest.approx(closed, abs=2e-3)


def test_mixture_of_a_source_with_itself_is_the_source_and_kl_is_zero():
    src = load_source("data:8gaussians")
    # Each part is normalised on the grid: an energy offset (a learned model's arbitrary
    # constant) does not change the mixture's weights.
    shifted = lambda x: src.energy(x) + 5.0  # noqa: E731
    energy = compose(src.energy, shifted, "mixture", src.box)
    m = measure(energy, src.true_energy, src.box, 200)
    assert m.log_z == pytest.approx(0.0, abs=0.01)  # a normalised density on the box
    assert m.kl == pytest.approx(0.0, abs=1e-6)
    # Against a different truth the KL is clearly positive.
    other = load_source("data:rings")
    assert measure(energy, other.true_energy, src.box, 200).kl > 0.5


def test_compose_cli_writes_a_checkpoint_the_studio_opens(tmp_path, capsys):
    out = tmp_path / "composed.safetensors"
    args = ["compose", "data:8gaussians", "data:rings", "--op", "product", "--steps", "30"]
    assert main([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "log Z" in text and "KL to truth 0.0000" in text  # a data: product is its own truth
    t = restore_trainer(out)
    assert t.config.data.name == "drawn" and len(t.train_x) == t.config.data.n_train
    # The product of 8 Gaussians (radius 2) and rings (radii 1, 2, 3) puts its mass near
    # radius 2: the data drawn from the composed density sit there.
    r = t.train_x.norm(dim=1)
    assert ((r > 1.5) & (r < 2.5)).float().mean() > 0.9


def test_bad_sources_are_one_sentence(tmp_path):
    with pytest.raises(ComposeError, match="no such checkpoint"):
        load_source(str(tmp_path / "missing.safetensors"))
    with pytest.raises(ComposeError, match="data:nope"):
        load_source("data:nope")
    assert main(["compose", "data:moons", "data:rings", "--op", "product",
                 "--out", str(tmp_path / "x.pt")]) == 2  # fmt: skip


def test_file_compose_opens_the_composed_model_in_the_studio(window):
    from ebm_studio.gui.compose_dialog import open_compose

    win = window()
    loaded: list[str] = []
    win.c.checkpoint_loaded.connect(loaded.append)
    dialog = open_compose(win.w)
    dialog.op.setCurrentText("product")
    dialog.steps.setValue(20)  # the fit's quality is not what this test is about
    dialog.go.click()
    win.wait(lambda: bool(loaded))
    assert dialog.result is not None and dialog.result["kl_to_truth"] < 1e-6
    assert "log Z" in dialog.status.text()
    win.wait(lambda: win.c.config.data.name == "drawn")  # the run is the composed checkpoint
    # A bad source: one sentence in the dialog, the run untouched.
    dialog.a.setText("data:nope")
    dialog.go.click()
    win.wait(lambda: "data:nope" in dialog.status.text())
    dialog.close()
    win.w.close()
