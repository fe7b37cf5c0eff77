"""The chain-health dock: numbers appear after some frames; the buffer inspector fills."""

from __future__ import annotations

import math

import numpy as np

from ebm_studio.gui.export import qimage_to_rgb


def test_health_panel_shows_numbers_after_some_frames(window, small_config):
    cfg = small_config(
        **{
            "objective.start": "buffer",
            "buffer.size": 500,
            "buffer.p_noise": 0.2,
            "sampler.kind": "mala",
        }
    )
    win = window(cfg)
    panel = win.w.health
    win.w.health_dock.raise_()
    win.w.play_action.trigger()
    win.wait(lambda: panel.values.get("ess") is not None)
    win.wait(lambda: panel.values.get("age") is not None)
    v = panel.values
    assert 0.0 <= v["acceptance"] <= 1.0
    assert v["ess"] > 0 and math.isfinite(v["rhat"]) and v["rhat"] > 0.5
    assert 0.05 < v["reinit_noise"] < 0.4 and v["reinit_data"] == 0.0
    assert v["age"] > 0
    for key in ("acceptance", "ess", "rhat", "reinit_noise", "age"):
        assert panel.labels[key].text() != "-", key
    # The energy histograms and the buffer scatter have data.
    drawn = [item.getData()[0] for item in panel.buffer_dots]
    assert sum(0 if x is None else len(x) for x in drawn) > 0
    xs, ys = panel.hist_curves["data"].getData()
    assert ys is not None and np.nansum(ys) > 0
    img = qimage_to_rgb(win.w.health_dock.grab().toImage())
    assert img.std() > 5  # not blank
    win.w.close()
    assert not win.c.thread.isRunning()


def test_age_bands_split_the_buffer_youngest_first():
    from ebm_studio.gui.health import age_bands

    age = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 89])
    bands = age_bands(age, 8)
    assert len(bands) == 8
    assert (np.sum(bands, axis=0) == 1).all()  # each point in exactly one band
    band_of = np.argmax(bands, axis=0)
    assert (np.diff(band_of) >= 0).all()  # older points never in a younger band
    assert band_of[0] == 0 and band_of[-1] == 7
    assert [b.tolist() for b in age_bands(np.zeros(3, int), 4)][0] == [True] * 3


def test_health_panel_without_buffer_shows_no_buffer_numbers(window, small_config):
    win = window(small_config(**{"objective.start": "data"}))
    panel = win.w.health
    win.w.play_action.trigger()
    win.wait(lambda: panel.values.get("ess") is not None)
    assert panel.values["acceptance"] is None  # ULA has no acceptance
    assert panel.values["reinit_noise"] is None and panel.labels["age"].text() == "-"
    win.w.close()


def test_adaptation_toggle_moves_the_mala_step_toward_the_target(window, small_config):
    """Ticking the dock's adaptation box sets sampler.adapt in the running config. On the
    fresh, nearly flat model MALA accepts almost every move (acceptance ~1 > target 0.6), so
    the shown step grows from 0.5; without adaptation it stays at 0.5."""
    cfg = small_config(
        **{"objective.start": "noise", "sampler.kind": "mala", "sampler.step_size": 0.5}
    )
    win = window(cfg)
    panel = win.w.health
    assert panel.adapt.isEnabled() and not panel.adapt.isChecked()
    win.w.play_action.trigger()
    win.wait(lambda: panel.values.get("step") is not None)
    assert panel.values["step"] == 0.5
    panel.target.setValue(0.6)
    panel.adapt.setChecked(True)
    assert win.c.config.sampler.adapt and win.c.config.sampler.target_accept == 0.6
    win.wait(lambda: panel.values["step"] > 0.75)
    assert panel.values["acceptance"] > 0.6
    assert panel.labels["step"].text() != "-"
    win.w.close()
    assert not win.c.thread.isRunning()


def test_adaptation_box_follows_the_sampler_kind(window, small_config):
    win = window(small_config(**{"sampler.kind": "langevin"}))
    assert not win.w.health.adapt.isEnabled()
    win.c.set_value("sampler.kind", "mala")
    assert win.w.health.adapt.isEnabled()
    win.w.close()
