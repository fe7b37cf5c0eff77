"""The studio window under pytest-qt (offscreen): transport, controls, frames, data, shutdown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from ebm_studio.core.figures import colormap_lut
from ebm_studio.core.share import encode
from ebm_studio.gui.app import initial_config, run_app
from ebm_studio.gui.export import qimage_to_rgb
from ebm_studio.gui.main_window import MainWindow

ROOT = Path(__file__).resolve().parent.parent


def test_play_pause_resume_from_toolbar(window):
    win = window()
    assert win.c.state == "paused"
    win.w.play_action.trigger()
    win.wait_state("playing")
    assert win.w.play_action.isChecked() and win.w.play_action.text() == "Pause"
    win.wait(lambda: win.last.step >= 5)
    win.w.play_action.trigger()
    win.wait_state("paused")
    win.wait(lambda: win.last.info.state == "paused")
    stopped_at = win.last.step
    win.w.step_action.trigger()
    win.wait(lambda: win.last.step == stopped_at + 1)
    win.w.play_action.trigger()
    win.wait(lambda: win.last.step >= stopped_at + 5)
    assert win.w.step_label.text().startswith("step ")
    assert "training" in win.w.state_label.text()
    win.w.close()
    assert not win.c.thread.isRunning()


def test_keyboard_shortcuts(window, qtbot):
    win = window()
    win.w.activateWindow()
    win.wait(lambda: QApplication.activeWindow() is win.w)
    qtbot.keyClick(win.w, Qt.Key.Key_S)
    win.wait(lambda: win.last.step == 1)
    qtbot.keyClick(win.w, Qt.Key.Key_Space)
    win.wait_state("playing")
    qtbot.keyClick(win.w, Qt.Key.Key_Space)
    win.wait_state("paused")
    qtbot.keyClick(win.w, Qt.Key.Key_R)
    win.wait(lambda: win.last.step == 0)


def test_tree_edit_reaches_the_worker_and_marks_the_curves(window):
    win = window()
    param = win.w.controls.param("sampler.step_size")
    param.setValue(0.2)
    assert win.c.config.sampler.step_size == 0.2
    win.w.step_action.trigger()
    # The worker applied it: the trainer logged the change, and the curves show a marker.
    win.wait(lambda: any("0.01 -> 0.2" in e.label for f in win.frames for e in f.arms[0].events))
    win.wait(lambda: any("0.01 -> 0.2" in m for m in win.w.curves.marker_labels()))


def test_structural_fields_are_marked_and_wait_for_reset(window):
    win = window()
    width = win.w.controls.param("model.width")
    assert "on Reset" in width.title()
    assert "on Reset" not in win.w.controls.param("sampler.step_size").title()
    width.setValue(48)
    assert "model.width" in win.w.pending_label.text()
    assert win.c.running_config.model.width == 32
    win.w.reset_action.trigger()
    win.wait(lambda: win.c.running_config.model.width == 48)
    assert win.w.pending_label.text() == ""


def test_out_of_range_values_cannot_reach_the_worker(window):
    win = window()
    sent = []
    original = win.c.thread.send
    win.c.thread.send = lambda cmd: (sent.append(cmd), original(cmd))[1]
    assert not win.c.set_value("sampler.step_size", 100.0)
    assert "sampler.step_size" in win.w.statusBar().currentMessage()
    assert win.c.config.sampler.step_size == 0.01 and not sent
    # The tree's spin box clamps what is typed to the field's limits.
    param = win.w.controls.param("sampler.step_size")
    spin = next(iter(param.items)).widget
    spin.setValue(1e6)
    assert spin.value() <= 10.0
    # A value the tree would accept but the config rejects snaps back.
    param.setValue(-1.0)
    assert param.value() == win.c.config.sampler.step_size


def test_frames_arrive_under_the_frame_rate_cap(window, small_config):
    fps = 12
    win = window(small_config(**{"view.fps": fps}))
    win.w.play_action.trigger()
    win.wait(lambda: len(win.frames) >= 10)
    stamps = np.array([f.info.emitted_at for f in win.frames])
    assert np.diff(stamps).min() >= 1.0 / fps - 1e-6
    assert win.w.frames_drawn >= 9  # each frame was drawn (and acknowledged)
    assert len(win.w.frame_times_ms) > 0


def test_each_frame_is_painted_once(window):
    """A frame's landscape is painted once: a synchronous repaint() was followed by the
    scene's own deferred update, a second full paint of the same frame."""
    win = window()
    win.wait(lambda: win.w.frames_drawn >= 1)
    frame = win.last
    paints: list[int] = []
    win.w.landscape.painted.connect(lambda: paints.append(1))
    for _ in range(3):
        QApplication.processEvents()
    paints.clear()
    drawn = win.w.frames_drawn
    for i in range(5):
        win.c.frame_ready.emit(frame)
        win.wait(lambda n=drawn + i + 1: win.w.frames_drawn >= n)
        for _ in range(5):
            QApplication.processEvents()
    assert win.w.frames_drawn == drawn + 5
    assert len(paints) == 5


def test_screenshot_shows_the_heatmap(window, small_config):
    win = window(small_config(**{"view.heatmap": "energy", "view.colormap": "viridis"}))
    win.w.train_n.setValue(5)
    win.w.train_n_action.trigger()
    win.wait(lambda: win.last.step == 5 and win.snap.energy is not None)
    win.wait(lambda: win.w.frames_drawn >= len(win.frames))
    pixels = qimage_to_rgb(win.w.landscape.grab().toImage()).reshape(-1, 3).astype(int)
    assert pixels.std(0).max() > 20  # not blank
    lut = colormap_lut("viridis", 64).astype(int)
    dist = np.abs(pixels[:, None, :] - lut[None]).sum(-1).min(1)
    near = dist <= 12
    assert near.mean() > 0.2  # a good part of the view is heatmap colour
    # ... and more than one colour of the map: the energy varies over the box.
    nearest = np.abs(pixels[near][:, None, :] - lut[None]).sum(-1).argmin(1)
    assert np.ptp(nearest) >= 8


def test_views_toggle_and_switch_quantity(window):
    win = window()
    for key, value in (
        ("view.heatmap", "log-density"),
        ("view.contours", True),
        ("view.true_contours", True),
        ("view.show_score", True),
        ("view.show_buffer", True),
        ("view.levels", "locked"),
        ("view.colormap", "magma"),
    ):
        win.w.controls.param(key).setValue(value)
    win.w.step_action.trigger()
    win.wait(lambda: win.last.step == 1 and win.snap.energy is not None)
    win.wait(lambda: win.w.frames_drawn >= len(win.frames))
    view = win.w.landscape
    assert view.contours.isVisible() and len(view.contours.getData()[0]) > 0
    assert len(view.true_contours.getData()[0]) > 0
    assert len(view.score.getData()[0]) > 0
    assert len(view.buffer.getData()[0]) > 0
    cell = 2 * win.snap.box / view.image.image.shape[0]
    # A log-density normalised on the grid: exp of it integrates to one.
    assert np.exp(view.image.image.astype(float)).sum() * cell**2 == pytest.approx(1, rel=1e-3)


def test_large_chain_sets_draw_as_a_density_image(window, small_config):
    win = window(small_config(**{"sampler.n_chains": 20000, "buffer.size": 20000}))
    win.w.step_action.trigger()
    win.wait(lambda: win.last.step == 1)
    win.wait(lambda: win.w.frames_drawn >= len(win.frames))
    view = win.w.landscape
    assert view.chain_image.image is not None and view.chain_image.image.sum() > 0
    x, _ = view.chain_dots.getData()
    assert x is None or len(x) == 0


def test_sample_mode_from_the_toolbar(window):
    win = window()
    win.w.controls.param("sample.n_chains").setValue(300)
    win.w.sample_action.trigger()
    assert win.w.controls.param("sample.enabled").value() is True
    win.w.play_action.trigger()
    win.wait_state("sampling")
    win.wait(lambda: win.snap.sample is not None and win.snap.sample.steps >= 3)
    assert win.snap.chains.shape == (300, 2) and win.last.step == 0
    assert "sampler step" in win.w.step_label.text()
    win.w.controls.param("sample.enabled").setValue(False)
    win.wait(lambda: win.last.info.mode == "train")


def test_sample_mode_noise_option_decouples_the_noise(window, monkeypatch):
    """The sample group's noise sigma (decoupled Langevin noise, as in Nijkamp et al. 2020):
    0 keeps the valid coupled noise, a positive value reaches the worker as decoupled noise at
    that sigma."""
    from ebm_studio.gui.controller import SampleOptions
    from ebm_studio.worker.commands import SampleMode

    win = window()
    assert SampleOptions().sampler_config(win.c.config.sampler).noise_mode == "coupled"
    sent = []
    send = win.c._send
    monkeypatch.setattr(
        win.c,
        "_send",
        lambda cmd: (
            sent.append(cmd) if isinstance(cmd, SampleMode) else None,
            send(cmd),
        ),  # fmt: skip
    )
    win.w.controls.param("sample.noise").setValue(0.03)
    win.w.sample_action.trigger()
    win.wait(lambda: any(c.enabled for c in sent))
    cfg = [c for c in sent if c.enabled][-1].sampler
    assert cfg.noise_mode == "decoupled" and cfg.noise == 0.03
    win.w.controls.param("sample.enabled").setValue(False)


def test_a_destroyed_settings_panel_leaves_no_live_tree_item(window):
    """Qt deletes the settings tree's invisible root item in C++; its Python wrapper must die
    with it, or PySide hands the stale wrapper out for the next object at that address (a
    later window failed to build: "'QTreeWidgetItem' object has no attribute 'children'")."""
    import shiboken6
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QTreeWidget

    from ebm_studio.gui.controls import ControlsPanel

    win = window()
    panel = ControlsPanel(win.c)
    root = QTreeWidget.invisibleRootItem(panel.tree)  # held, as a reference cycle would
    assert shiboken6.isValid(root)
    panel.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(root)


def test_train_n_steps_with_progress(window):
    win = window()
    win.w.train_n.setValue(15)
    win.w.train_n_action.trigger()
    win.wait(lambda: win.last.step == 15 and win.c.state == "paused")
    assert win.w.progress.value() == 15 and win.w.progress.maximum() == 15


def test_divergence_shows_a_banner_and_pauses(window, small_config):
    cfg = small_config(**{"optim.lr": 1.0, "objective.alpha": 0.0, "train.energy_limit": 1.0})
    win = window(cfg)
    win.w.play_action.trigger()
    win.wait(lambda: "diverged" in win.w.banner.text())
    win.wait_state("paused")
    assert not win.w.play_action.isChecked()


def test_curves_drop_the_steps_a_rollback_undid(qtbot):
    """After a divergence rollback the run goes on from an earlier step: the curves forget the
    undone points instead of drawing both histories over the same steps."""
    from ebm_studio.gui.curves import CurvesPanel

    panel = CurvesPanel()
    qtbot.addWidget(panel)
    for step in range(1, 9):
        panel.add_row({"step": step, "loss": float(step)})
    panel.add_row({"step": 6, "loss": -1.0})  # rolled back to step 5, step 6 again
    x, y = panel.series["loss"].data()
    assert x.tolist() == [1, 2, 3, 4, 5, 6] and y[-1] == -1.0


def mouse(widget, kind, pos, button, buttons) -> None:
    point = QPointF(pos)
    event = QMouseEvent(
        kind, point, widget.mapToGlobal(point), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def test_drawing_with_the_mouse_becomes_the_dataset(window, monkeypatch):
    # pyqtgraph drops move events closer than 10 ms apart; synthetic ones come back to back.
    monkeypatch.setitem(pg.CONFIG_OPTIONS, "mouseRateLimit", 0)
    win = window()
    panel, view = win.w.data_panel, win.w.landscape
    panel.draw_button.click()
    assert view.viewbox.drawing
    vp = view.viewport()
    centre = view.mapFromScene(view.viewbox.mapViewToScene(view.viewbox.viewRect().center()))
    left = Qt.MouseButton.LeftButton
    path = [centre + QPoint(dx, dx // 2) for dx in range(0, 80, 4)]
    mouse(vp, QEvent.Type.MouseButtonPress, path[0], left, left)
    for p in path[1:]:  # QTest's mouseMove carries no buttons, so send real drag events
        mouse(vp, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, left)
    mouse(vp, QEvent.Type.MouseButtonRelease, path[-1], left, Qt.MouseButton.NoButton)
    assert panel.drawn_count >= 16 and panel.use_button.isEnabled()
    pts = view.drawn_points()
    since = len(win.frames)
    panel.use_button.click()
    frame = win.new_run_frame(since)
    assert win.c.running_config.data.name == "drawn" and frame.step == 0
    assert np.allclose(frame.arms[0].static.data.mean(0), pts.mean(0), atol=0.1)
    assert not view.viewbox.drawing


def test_csv_import_good_and_bad(window, tmp_path):
    win = window()
    good = tmp_path / "pts.csv"
    rng = np.random.default_rng(1)
    np.savetxt(good, rng.normal(-1, 0.3, (200, 2)), delimiter=",", header="x,y", comments="")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,banana\n")
    assert not win.w.data_panel.import_csv(bad)
    assert "bad.csv" in win.w.statusBar().currentMessage()
    assert win.c.config.data.name == "8gaussians"
    since = len(win.frames)
    assert win.w.data_panel.import_csv(good)
    frame = win.new_run_frame(since)
    assert win.c.running_config.data.name == "drawn"
    assert np.allclose(frame.arms[0].static.data.mean(0), -1, atol=0.1)
    assert win.w.data_panel.picker.currentData() == "drawn"


def test_dataset_picker_resets_with_the_new_data(window):
    win = window()
    panel = win.w.data_panel
    since = len(win.frames)
    panel.picker.setCurrentIndex(panel.picker.findData("rings"))
    frame = win.new_run_frame(since)
    static = frame.arms[0].static
    assert win.c.running_config.data.name == "rings" and static.true_log_p is not None
    radii = np.hypot(*static.data.T)
    assert np.all(np.abs(radii[:, None] - np.array([1.0, 2.0, 3.0])).min(1) < 0.6)
    assert win.w.controls.param("data.box").value() == win.c.config.data.box


def test_presets_open_and_save(window, tmp_path):
    win = window()
    assert win.w.open_preset("cd")
    win.wait(lambda: win.c.running_config.objective.start == "data")
    path = tmp_path / "mine.toml"
    win.w.controls.param("sampler.step_size").setValue(0.03)
    win.w.save_preset(path)
    from ebm_studio.core.presets import load_preset

    assert load_preset(path).config.sampler.step_size == 0.03
    assert not win.w.open_preset(tmp_path / "missing.toml")
    assert "missing.toml" in win.w.banner.text()


def test_settings_persist_between_sessions(window, small_config, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    win = window(small_config(), settings=settings)
    win.w.controls.param("sampler.step_size").setValue(0.042)
    win.w.close()
    config, title = initial_config(None, settings)
    assert config.sampler.step_size == 0.042 and title == "last session"
    assert settings.value("windowState") is not None
    win2 = window(config, settings=settings)
    assert win2.w.controls.param("sampler.step_size").value() == 0.042


def test_run_app_opens_and_quits(qtbot, monkeypatch, tmp_path, small_config):
    monkeypatch.setattr(
        "ebm_studio.gui.app.QSettings",
        lambda *a: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
    )
    monkeypatch.setattr(
        "ebm_studio.gui.app.initial_config", lambda preset, settings: (small_config(), "test")
    )
    shown = []

    def close_when_shown():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        live = [w for w in windows if w.isVisible() and w.frames_drawn > 0]
        if live:
            shown.append(live[0])
            live[0].close()
        else:
            QTimer.singleShot(50, close_when_shown)

    QTimer.singleShot(50, close_when_shown)
    assert run_app() == 0
    assert shown and not shown[0].controller.thread.isRunning()


CLOSE_WHILE_TRAINING = textwrap.dedent(
    """
    import os, sys, threading
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from ebm_studio.core.share import decode
    from ebm_studio.gui.main_window import MainWindow
    app = QApplication([])
    w = MainWindow(decode(sys.argv[1]))
    w.show()
    w.controller.play()
    def check():
        if w.last_snapshot is not None and w.last_snapshot.step >= 3:
            w.close()  # while the worker is mid-training
            app.quit()
        else:
            QTimer.singleShot(20, check)
    QTimer.singleShot(20, check)
    app.exec()
    assert not w.controller.thread.isRunning()
    print("threads", threading.active_count())
    """
)


def test_closing_while_training_exits_cleanly(small_config):
    r = subprocess.run(
        [sys.executable, "-c", CLOSE_WHILE_TRAINING, encode(small_config())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Destroyed while thread" not in r.stderr
    assert "threads 1" in r.stdout


def test_every_objective_trains_live_in_the_window(window, small_config):
    from ebm_studio.core.config import OBJECTIVES

    win = window(small_config(**{"objective.flow_pretrain": 10, "objective.proposal_samples": 64}))
    errors: list[str] = []
    win.c.error_raised.connect(errors.append)
    for name in OBJECTIVES:
        win.w.controls.param("objective.name").setValue(name)
        before = win.last.step
        win.w.step_action.trigger()
        win.wait(lambda before=before: win.last.step == before + 1 or bool(errors))
        assert not errors, (name, errors)
        # Only the fields of the chosen objective are shown.
        assert win.w.controls.param("objective.sigma").opts["visible"] == (name == "dsm")
    win.wait(lambda: win.w.frames_drawn >= len(win.frames))


def test_unavailable_device_is_reported_and_the_run_stays(window):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    win = window()
    win.w.controls.param("train.device").setValue("cuda")
    win.wait(lambda: "CUDA" in win.w.banner.text())
    win.wait(lambda: win.w.controls.param("train.device").value() == "auto")
    win.w.step_action.trigger()
    win.wait(lambda: win.last.step == 1)


def test_checkpoint_save_and_open_restore_run_and_settings(window, tmp_path):
    win = window()
    win.w.train_n.setValue(4)
    win.w.train_n_action.trigger()
    win.wait(lambda: win.last.step == 4 and win.c.state == "paused")
    path = tmp_path / "run.safetensors"
    win.c.save_checkpoint(path)
    win.wait(lambda: "Saved checkpoint" in win.w.statusBar().currentMessage())
    win.w.controls.param("sampler.step_size").setValue(0.05)
    win.w.reset_action.trigger()
    win.wait(lambda: win.last.step == 0)
    win.c.load_checkpoint(path)
    win.wait(lambda: win.last.step == 4)
    assert win.c.config.sampler.step_size == 0.01  # the checkpoint's settings are shown
    assert win.w.controls.param("sampler.step_size").value() == 0.01
