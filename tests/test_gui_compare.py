"""Compare mode under pytest-qt (offscreen): the thread, the window, and its main-window entry."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from ebm_studio.gui.compare_curves import ARM_COLOURS
from ebm_studio.gui.export import qimage_to_rgb
from ebm_studio.gui.main_window import MainWindow
from ebm_studio.worker.commands import TrainSteps


@pytest.fixture
def config(small_config):
    def make(**over):
        return small_config(**{"train.eval_every": 5, **over})

    return make


def test_identical_arms_in_the_thread_give_identical_frames(worker, config):
    h = worker(config(), arms=((), ()), torch_threads=1)
    h.thread.send(TrainSteps(7))
    h.start()
    h.wait(lambda: h.last.step == 7)
    frames = h.frames
    last = frames[-1]
    a, b = last.arms
    assert a.step == b.step == 7 and last.info.in_step
    assert np.array_equal(a.energy, b.energy)
    assert np.array_equal(a.chains, b.chains)
    rows_a = [
        {k: v for k, v in r.items() if k != "steps_per_s"} for f in frames for r in f.arms[0].rows
    ]
    rows_b = [
        {k: v for k, v in r.items() if k != "steps_per_s"} for f in frames for r in f.arms[1].rows
    ]
    assert rows_a == rows_b and [r["step"] for r in rows_a] == [float(i) for i in range(1, 8)]


def test_play_advances_both_arms_and_their_curves(compare, wait):
    w = compare()  # arm B defaults to the other objective family
    a_title, b_title = (v.title.text() for v in w.views)
    assert "objective.name=mcmc" in a_title and "objective.name=nce" in b_title
    assert "objective.name=nce" in w.curves.legend.text()
    w.play_action.trigger()
    wait(lambda: w.controller.state == "playing")
    assert w.play_action.text() == "Pause"
    wait(lambda: w.last_frame.step >= 12)
    w.play_action.trigger()
    wait(lambda: w.controller.state == "paused")
    frame = w.last_frame
    assert frame.arms[0].step == frame.arms[1].step == frame.step
    for arm in ("A", "B"):
        for key in ("loss", "grad_norm", "kl", "nll"):
            wait(lambda a=arm, k=key: (a, k) in w.curves.series)
    # MMD compares chains with data: only the MCMC arm has chains.
    assert ("A", "mmd") in w.curves.series and ("B", "mmd") not in w.curves.series
    w.curves.redraw()
    for arm in ("A", "B"):
        x, y = w.curves.curves[(arm, "loss")].getData()
        assert len(x) >= 12 and np.isfinite(y).all()
    # Both arm colours are on the curves (checked on pixels, not on a golden image).
    w.curves.graphics.resize(900, 300)
    img = qimage_to_rgb(w.curves.graphics.grab().toImage()).reshape(-1, 3).astype(int)
    for colour in ARM_COLOURS:
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(img - rgb).sum(1) < 40).sum() > 50, colour
    thread = w.controller.thread
    w.close()
    assert not thread.isRunning()


def test_step_and_train_n_move_both_arms_in_lock_step(compare, wait):
    w = compare("sampler.step_size=0.02")
    w.step_action.trigger()
    wait(lambda: w.last_frame.step == 1)
    w.train_n.setValue(4)
    w.train_n_action.trigger()
    wait(lambda: w.last_frame.step == 5)
    assert w.last_frame.arms[0].step == w.last_frame.arms[1].step == 5
    assert "sampler.step_size=0.01" in w.views[0].title.text()
    assert "sampler.step_size=0.02" in w.views[1].title.text()


def test_a_bad_override_is_refused_and_the_pair_goes_on(compare, wait):
    w = compare("sampler.step_size=0.02")
    resets = []
    w.controller.run_reset.connect(resets.append)
    w.step_action.trigger()
    wait(lambda: w.last_frame.step == 1)
    w.overrides_edit.setText("objective.nam=nce")
    assert not w.apply_overrides()
    assert "unknown key 'objective.nam'" in w.error_text() and "arm B" in w.error_text()
    w.overrides_edit.setText("data.name=rings")
    assert not w.apply_overrides()
    assert "same data and seed" in w.error_text()
    assert w.controller.overrides[1] == (("sampler.step_size", 0.02),)
    w.step_action.trigger()  # the same pair continues
    wait(lambda: w.last_frame.step == 2)
    assert resets == []
    # A good override starts a new pair at step 0 and retitles arm B.
    w.overrides_edit.setText("objective.name=dsm")
    assert w.apply_overrides()
    wait(lambda: len(resets) == 1 and w.last_frame.step == 0)
    assert "objective.name=dsm" in w.views[1].title.text() and w.error_text() == ""
    assert w.controller.overrides[1] == (("objective.name", "dsm"),)


def test_main_window_opens_compare_with_its_settings_and_closes_it(qtbot, wait, config):
    main = MainWindow(config(**{"sampler.step_size": 0.03}), torch_threads=1)
    qtbot.addWidget(main)
    main.show()
    wait(lambda: main.last_snapshot is not None)
    main.controller.play()
    wait(lambda: main.controller.playing)
    main.compare_action.trigger()
    w = main.compare_window
    assert w is not None and w.isVisible()
    assert w.controller.config.sampler.step_size == 0.03  # arm A = the main window's settings
    wait(lambda: not main.controller.playing)  # main run paused
    wait(lambda: w.last_frame is not None)
    assert main.open_compare() is w  # a second trigger raises the same window
    thread = w.controller.thread
    main.close()
    assert not thread.isRunning() and not main.controller.thread.isRunning()


def test_arm_b_overrides_persist_between_sessions(qtbot, tmp_path, config):
    """Applied overrides are remembered (QSettings) and offered by the next compare window; a
    remembered value that no longer validates falls back to the suggestion."""
    path = str(tmp_path / "s.ini")
    settings = QSettings(path, QSettings.Format.IniFormat)
    main = MainWindow(config(), settings=settings, torch_threads=1)
    qtbot.addWidget(main)
    w = main.open_compare()
    w.overrides_edit.setText("sampler.step_size=0.02")
    assert w.apply_overrides()
    main.close()
    settings.sync()
    again = QSettings(path, QSettings.Format.IniFormat)
    assert again.value("compare/overrides") == "sampler.step_size=0.02"
    main2 = MainWindow(config(), settings=again, torch_threads=1)
    qtbot.addWidget(main2)
    w2 = main2.open_compare()
    assert w2.controller.overrides_text(1) == "sampler.step_size=0.02"
    main2.close()
    again.setValue("compare/overrides", "no.such_key=1")
    main3 = MainWindow(config(), settings=again, torch_threads=1)
    qtbot.addWidget(main3)
    w3 = main3.open_compare()
    assert "no.such_key" not in w3.controller.overrides_text(1)
    main3.close()


def test_a_diverging_arm_pauses_the_pair_and_says_which(compare, wait):
    w = compare("optim.lr=1, train.energy_limit=1")  # arm B blows up within a few steps
    w.train_n.setValue(50)
    w.train_n_action.trigger()
    wait(lambda: "Arm B" in w.error_text())
    assert "diverged" in w.error_text() and "both arms are back at step" in w.error_text()
    wait(lambda: w.controller.state == "paused")
    wait(lambda: w.last_frame.info.state == "paused")
    assert w.last_frame.arms[0].step == w.last_frame.arms[1].step < 50


def test_each_compare_frame_paints_each_arm_once_then_acknowledges(compare, wait, monkeypatch):
    from PySide6.QtWidgets import QApplication

    w = compare()
    frame = w.last_frame
    paints = {0: 0, 1: 0}
    for i, view in enumerate(w.views):
        view.landscape.painted.connect(lambda i=i: paints.__setitem__(i, paints[i] + 1))
    acks: list[int] = []
    monkeypatch.setattr(w.controller.thread, "acknowledge_frame", lambda: acks.append(1))
    for _ in range(3):
        QApplication.processEvents()
    paints.update({0: 0, 1: 0})
    for k in range(1, 4):
        w.controller.frame_ready.emit(frame)
        wait(lambda k=k: len(acks) >= k)
        for _ in range(5):
            QApplication.processEvents()
    assert paints == {0: 3, 1: 3}  # one paint per arm per frame, not two
    assert len(acks) == 3  # acknowledged once each, after both arms painted


def test_use_main_settings_starts_a_new_pair_from_the_main_window(qtbot, wait, config):
    main = MainWindow(config(), torch_threads=1)
    qtbot.addWidget(main)
    w = main.open_compare()
    wait(lambda: w.last_frame is not None)
    w.overrides_edit.setText("sampler.step_size=0.02")
    assert w.apply_overrides()
    resets = []
    w.controller.run_reset.connect(resets.append)
    assert main.controller.set_value("sampler.temperature", 0.5)  # edited in the main window
    assert w.controller.config.sampler.temperature == 1.0  # the pair has not followed yet
    w.use_main_action.trigger()
    wait(lambda: bool(resets) and resets[-1].base.sampler.temperature == 0.5)
    a, b = resets[-1].arms
    assert a.sampler.temperature == b.sampler.temperature == 0.5  # both arms: shared base
    assert (a.sampler.step_size, b.sampler.step_size) == (0.01, 0.02)  # B keeps its override
    assert w.overrides_edit.text() == "sampler.step_size=0.02"
    main.close()
