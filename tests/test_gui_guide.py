"""The Guide dock: every experiment preset's guide shows its steps; a step button acts on the
running studio; bad guides fail on load with one sentence."""

from __future__ import annotations

import pytest

from ebm_studio.core.config import Config, ConfigError
from ebm_studio.core.guide import parse_guide
from ebm_studio.core.presets import list_presets, parse_preset

EXPERIMENTS = [p for p in list_presets() if p.name.startswith("exp-")]


def test_every_experiment_preset_has_a_guide_and_no_loose_hint():
    assert len(EXPERIMENTS) >= 7
    for p in EXPERIMENTS:
        assert p.guide is not None, p.name
        # The texts moved into the guide: nothing left to flash in the status bar.
        assert not p.explanation and not p.hint, p.name
        assert any(ch.isdigit() for ch in p.guide.citation), f"{p.name}: citation has no year"


def test_guide_dock_shows_the_steps_of_every_experiment(window):
    win = window()
    panel = win.w.guide
    for p in EXPERIMENTS:
        panel.show_guide(p.name, p.guide)
        labels = [b.text() for b in panel.buttons]
        assert labels == [f"{i + 1}. {s.label}" for i, s in enumerate(p.guide.steps)], p.name
        assert p.guide.claim[:40] in panel.body.text().replace("&#x27;", "'")
    # Help > Experiments opens the preset and shows its guide.
    act = next(a for a in win.w.experiments_menu.actions() if a.text() == "exp-noise-funnel")
    act.trigger()
    win.wait(lambda: win.c.config.sampler.noise == 0.005)
    assert win.w.guide_dock.isVisible()
    assert "exp-noise-funnel" in panel.title.text()
    win.w.close()


def test_a_step_button_changes_the_running_config(window, small_config):
    cfg = small_config()
    guide = parse_guide(
        {
            "claim": "c",
            "citation": "A & B, T, 2020",
            "watch": "w",
            "expectation": "e",
            "measure": "chain_modes",
            "steps": [
                {"label": "Step 0.02", "action": "set", "settings": {"sampler.step_size": 0.02}},
                {"label": "Train 3", "action": "train", "settings": {"steps": 3}},
                {
                    "label": "Sample",
                    "action": "sample",
                    "settings": {"n_chains": 300, "noise": 0.03, "steps": 2},
                },
            ],
        },
        "test",
        cfg,
    )
    win = window(cfg)
    panel = win.w.guide
    panel.show_guide("test", guide)
    panel.buttons[0].click()
    panel.buttons[1].click()
    win.wait(lambda: win.last.step == 3 and win.c.state == "paused")
    assert win.trainer.config.sampler.step_size == 0.02  # the worker's run, not just the panel
    panel.buttons[2].click()
    win.wait(lambda: win.snap.sample is not None and win.snap.chains.shape[0] == 300)
    assert win.c.sample_options.noise == 0.03
    assert win.w.controls.param("sample.noise").value() == 0.03  # the tree shows it too
    win.wait(lambda: "top-2 modes hold" in panel.result.text())
    assert "expects" in panel.result.text()
    win.w.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"steps": []}, "guide.claim"),
        ({"claim": "c", "citation": "c", "watch": "w", "expectation": "e", "steps": []}, "steps"),
        (
            {"claim": "c", "citation": "c", "watch": "w", "expectation": "e", "measure": "x",
             "steps": [{"label": "a", "action": "reset"}]},
            "guide.measure",
        ),
        (
            {"claim": "c", "citation": "c", "watch": "w", "expectation": "e",
             "steps": [{"label": "a", "action": "fly"}]},
            "action",
        ),
        (
            {"claim": "c", "citation": "c", "watch": "w", "expectation": "e",
             "steps": [{"label": "a", "action": "set", "settings": {"sampler.step_size": -1}}]},
            "sampler.step_size",
        ),
        (
            {"claim": "c", "citation": "c", "watch": "w", "expectation": "e",
             "steps": [{"label": "a", "action": "train", "settings": {"steps": 0}}]},
            "steps = N",
        ),
        (
            {"claim": "c", "citation": "c", "watch": "w", "expectation": "e",
             "steps": [{"label": "a", "action": "sample", "settings": {"colour": 1}}]},
            "colour",
        ),
    ],
)  # fmt: skip
def test_a_bad_guide_is_one_sentence_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_guide(table, "x.toml", Config())
    assert "\n" not in str(err.value) and str(err.value).startswith("x.toml")


def test_a_guide_survives_save_and_load():
    from ebm_studio.core.presets import load_preset, preset_to_toml

    p = load_preset("exp-noise-funnel")
    q = parse_preset(preset_to_toml(p), name=p.name)
    assert q.guide == p.guide
