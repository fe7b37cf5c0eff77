"""Export and persistence from the window: figures, metrics CSV, recordings, checkpoints,
share strings, and the refusals (garbage files, unwritable folders)."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QRectF, QSettings
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QFileDialog, QGraphicsScene

from ebm_studio.core.history import metrics_csv
from ebm_studio.core.share import encode
from ebm_studio.gui.export import ExportDialog, Recorder, qimage_to_rgb

TIMEOUT = 60_000  # ms to wait for a file to be written or refused


def edges(rgb: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the grey image: text and axis lines, not flat areas."""
    g = rgb.astype(float).mean(-1)
    return np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1]


def test_png_export_has_the_chosen_width_and_is_not_blank(window, tmp_path):
    win = window()
    win.train(10)
    for target, width in (("landscape", 640), ("curves", 900), ("combined", 1000)):
        path = tmp_path / f"{target}.png"
        assert win.w.export_figure(target, path, width), win.w.banner.text()
        img = QImage(str(path))
        assert img.width() == width and img.height() > 50
        rgb = qimage_to_rgb(img)
        assert rgb.std() > 5  # not a flat image
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20
    # The combined figure holds both views: taller than the landscape alone at that width.
    land = QImage(str(tmp_path / "landscape.png"))
    combined = QImage(str(tmp_path / "combined.png"))
    assert combined.height() > land.height() * 1000 / 640
    assert not list(tmp_path.glob(".*.part"))


def test_svg_export_is_valid_xml(window, tmp_path):
    win = window()
    win.train(5)
    for target in ("landscape", "curves", "combined"):
        path = tmp_path / f"{target}.svg"
        assert win.w.export_figure(target, path), win.w.banner.text()
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg")
        assert float(root.get("width").removesuffix("px")) > 0
    # Drawn back, the landscape SVG looks like the view on screen (axes, colour bar and
    # heatmap in place: pyqtgraph's cached QPictures replay at the generator's resolution).
    renderer = QSvgRenderer(str(tmp_path / "landscape.svg"))
    drawn = QImage(renderer.defaultSize(), QImage.Format.Format_RGB32)
    painter = QPainter(drawn)
    renderer.render(painter)
    painter.end()
    screen = win.w.landscape.grab().toImage()
    assert drawn.size() == screen.size()
    a, b = edges(qimage_to_rgb(drawn)), edges(qimage_to_rgb(screen))
    strips = np.r_[a[:, :60].ravel(), a[-40:].ravel()], np.r_[b[:, :60].ravel(), b[-40:].ravel()]
    assert np.corrcoef(*strips)[0, 1] > 0.6  # the axes (left, bottom) are where they belong
    nested = ET.parse(tmp_path / "combined.svg").getroot()
    assert len([e for e in nested if e.tag.endswith("}g")]) == 2


def test_metrics_csv_has_header_and_one_row_per_logged_step(window, tmp_path):
    win = window()
    win.train(12)
    win.wait(lambda: len(win.w.history) == 12)
    path = tmp_path / "metrics.csv"
    assert win.w.export_metrics_csv(path)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows[0][0] == "step" and "loss" in rows[0]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 13))
    # The same text the CLI writes from the trainer's own history.
    assert path.read_text() == metrics_csv(win.trainer.history)


def test_record_button_writes_a_gif_whose_frames_differ(window, tmp_path, monkeypatch):
    win = window()
    target = tmp_path / "chains.gif"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "GIF animation (*.gif)")
    )
    win.train(3)  # a grid is drawn: the recording gets the matplotlib axes of it
    win.wait(lambda: win.w.landscape.shown_layers().energy is not None)
    win.w.record_action.trigger()
    assert win.w.recorder.recording and win.w.record_action.isChecked()
    axes = win.w.recording_axes
    assert axes is not None
    win.c.set_steps_per_frame(1)  # one step per frame: every frame shows a change
    win.c.play()
    win.wait(lambda: len(win.w.recorder.frames) >= 6)
    win.c.pause()
    win.w.record_action.trigger()
    assert not win.w.recorder.recording
    win.wait(target.exists)
    with Image.open(target) as gif:
        assert gif.n_frames > 1
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")).copy())
    # Each frame is the AxesFrame's picture (ticks, labels, colour bar, as `ebm-studio sample`
    # animations) with the captured data area placed inside the axes.
    assert frames[0].shape[:2] == axes.background.shape[:2]
    c0, c1 = sorted(axes.px)
    outside = np.ones(frames[0].shape[:2], bool)
    outside[:, int(c0) - 1 : int(c1) + 2] = False  # the axes' columns hold the captures
    diff = np.abs(frames[0].astype(int) - axes.background.astype(int))[outside]
    assert np.percentile(diff, 99) <= 24  # GIF palette rounding only (255 colours)
    row, cols = int(sum(axes.py) / 2), slice(int(c0) + 2, int(c1) - 2)
    assert not np.array_equal(frames[0][row, cols], axes.background[row, cols])  # a capture
    assert any(not np.array_equal(frames[0], f) for f in frames[1:])


def test_recorder_stays_bounded(qapp):
    class FakeView:
        """What the recorder uses of a view: its visible rect and its scene."""

        def __init__(self) -> None:
            self._scene = QGraphicsScene()
            self._scene.addRect(QRectF(10, 10, 30, 20))

        def viewRect(self) -> QRectF:
            return QRectF(0, 0, 100, 50)

        def scene(self) -> QGraphicsScene:
            return self._scene

    view = FakeView()
    rec = Recorder(max_frames=10, width=40, fps=10)
    rec.start()
    for i in range(200):
        rec.capture(view, now=i * 0.1 + 1e-6 * i)
    assert 5 <= len(rec.frames) <= 10
    assert rec.frames[0].shape == (20, 40, 3)
    assert rec.frame_rate < 10  # frames were thinned: playback slows to real time
    kept = list(rec.frames)
    stopped = rec.stop()
    # A stop hands back exactly the frames kept so far (what the window saves) ...
    assert len(stopped) == len(kept) and all(a is b for a, b in zip(stopped, kept))
    # ... and nothing is recorded after it: every capture is refused and changes nothing
    # (64 offers a second apart: more than the thinning stride, so one would be kept).
    assert not rec.recording
    assert not any([rec.capture(view, now=1e6 + i) for i in range(64)])
    assert len(rec.frames) == len(kept) and len(stopped) == len(kept)


def test_mp4_is_refused_clearly_without_the_video_extra(window, tmp_path, monkeypatch):
    import ebm_studio.gui.recording as recording

    monkeypatch.setattr(recording, "has_mp4", lambda: False)
    win = window()
    win.w.start_recording()
    win.c.set_steps_per_frame(1)  # frames keep coming until the recorder has two
    win.c.play()
    win.wait(lambda: len(win.w.recorder.frames) >= 2)
    win.c.pause()
    win.w.stop_recording()
    assert not win.w.save_recording(tmp_path / "chains.mp4")
    assert "video extra" in win.w.banner.text()
    assert not (tmp_path / "chains.mp4").exists()


def test_checkpoint_save_then_open_restores_step_and_parameters(
    window, qtbot, tmp_path, small_config
):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = window(settings=settings)
    saved_step = win.train(15)
    path = tmp_path / "run.safetensors"
    with qtbot.waitSignal(win.c.checkpoint_saved, timeout=TIMEOUT):
        win.w.save_checkpoint(path)
    saved = win.params()
    assert str(path.resolve()) in win.w.recent_files()

    win.train(10)
    assert not torch.equal(next(iter(win.params().values())), next(iter(saved.values())))
    with qtbot.waitSignal(win.c.checkpoint_loaded, timeout=TIMEOUT):
        win.w.open_checkpoint(path)
    win.wait(lambda: win.frames[-1].step == saved_step and win.c.state == "paused")
    assert win.trainer.step_count == saved_step
    for key, value in win.params().items():
        assert torch.equal(value, saved[key]), key

    # A fresh window lists it under Open recent (QSettings), opens it, and its panels show
    # the checkpoint's settings.
    fresh = window(small_config(**{"model.width": 16}), settings=settings)
    assert fresh.w.recent_files() == [str(path.resolve())]
    assert [a.text() for a in fresh.w.recent_menu.actions()][0] == path.name
    with qtbot.waitSignal(fresh.c.checkpoint_loaded, timeout=TIMEOUT):
        fresh.w.open_checkpoint(path)
    fresh.wait(lambda: fresh.frames[-1].step == saved_step and fresh.c.state == "paused")
    assert fresh.c.config == win.c.config
    for key, value in fresh.params().items():
        assert torch.equal(value, saved[key]), key
    fresh.w.close()
    win.w.close()


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_opening_a_bad_file_is_refused_and_the_run_goes_on(window, qtbot, tmp_path, kind):
    win = window()
    step = win.train(5)
    path = tmp_path / "bad.safetensors"
    if kind == "garbage":
        path.write_bytes(b"this is not a checkpoint at all" * 10)
    else:
        good = tmp_path / "good.safetensors"
        with qtbot.waitSignal(win.c.checkpoint_saved, timeout=TIMEOUT):
            win.w.save_checkpoint(good)
        path.write_bytes(good.read_bytes()[:-100])
    params = win.params()
    config = win.c.config
    with qtbot.waitSignal(win.c.file_failed, timeout=TIMEOUT):
        win.w.open_checkpoint(path)
    message = win.errors[-1]
    assert message.startswith("bad.safetensors") and "\n" not in message
    assert "bad.safetensors" in win.w.banner.text()
    assert win.trainer.step_count == step and win.c.config == config
    for key, value in win.params().items():
        assert torch.equal(value, params[key]), key
    win.train(2)  # still usable
    assert str(path.resolve()) not in win.w.recent_files()


def test_share_string_copy_paste_round_trips_and_garbage_is_refused(window, small_config):
    config = small_config(**{"train.seed": 1234, "sampler.step_size": 0.02, "model.width": 24})
    source = window(config)
    source.w.copy_share_action.trigger()
    text = QGuiApplication.clipboard().text()
    assert text == encode(config) and text.startswith("ebm1:")
    source.w.close()

    target = window()
    before = target.c.config
    assert before != config
    target.w.paste_share_action.trigger()
    assert target.c.config == config
    target.wait(lambda: target.c.running_config == config)

    QGuiApplication.clipboard().setText("ebm1:definitely-not-a-config")
    target.w.paste_share_action.trigger()
    assert target.c.config == config
    assert "share string is damaged" in target.w.banner.text()
    assert not target.w.paste_share_string("hello world")
    assert target.c.config == config


def test_export_into_an_unwritable_folder_gives_a_clear_message_and_no_file(
    window, qtbot, tmp_path
):
    win = window()
    win.train(3)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    for path, export in (
        (blocker / "fig.png", lambda p: win.w.export_figure("combined", p, 800)),
        (blocker / "fig.svg", lambda p: win.w.export_figure("landscape", p)),
        (tmp_path / "missing" / "metrics.csv", win.w.export_metrics_csv),
        (tmp_path / "missing" / "preset.toml", win.w.save_preset),
    ):
        assert not export(path)
        text = win.w.banner.text()
        assert text.startswith(f"Could not write {path.name}") and text.endswith("."), text
        assert not path.exists()
    with qtbot.waitSignal(win.c.file_failed, timeout=TIMEOUT):
        win.w.save_checkpoint(blocker / "run.safetensors")
    assert win.errors[-1].startswith("Could not write run.safetensors")
    win.train(2)  # the run goes on


def test_a_failed_encode_leaves_no_file(window, tmp_path, monkeypatch):
    win = window()
    monkeypatch.setattr(QImage, "save", lambda *a, **k: False)
    path = tmp_path / "fig.png"
    assert not win.w.export_figure("landscape", path, 400)
    assert "could not be encoded" in win.w.banner.text()
    assert list(tmp_path.iterdir()) == []


def test_export_dialog_choice_and_ctrl_e(qtbot, tmp_path):
    dialog = ExportDialog(directory=str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.target.setCurrentIndex(dialog.target.findData("curves"))
    dialog.format.setCurrentIndex(dialog.format.findData("svg"))
    assert not dialog.width.isEnabled()
    dialog.path.setText(str(tmp_path / "fig"))
    dialog.width.setValue(1200)
    target, path, width = dialog.choice()
    assert (target, Path(path).name) == ("curves", "fig.svg")
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    assert dialog.width.isEnabled() and Path(dialog.choice()[1]).name == "fig.png"
    assert dialog.choice()[2] == 1200
