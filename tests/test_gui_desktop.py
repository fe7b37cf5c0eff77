"""Desktop conventions: dropped files, Help menu, shortcuts list, theme, recent lists, sampler
fields that follow the sampler, and ``ebm-studio gui FILE``."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import PySide6
import torch
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QColor, QDropEvent
from PySide6.QtWidgets import QMenu

from ebm_studio.core.share import encode
from ebm_studio.gui import help_menu
from ebm_studio.gui.help_menu import ShortcutsDialog


def drop(w, target: str, as_text: bool = False) -> QDropEvent:
    mime = QMimeData()
    if as_text:
        mime.setText(target)
    else:
        mime.setUrls([QUrl.fromLocalFile(target)])
    ev = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    w.dropEvent(ev)
    return ev


def write_points(path, centre: float) -> None:
    rng = np.random.default_rng(0)
    np.savetxt(path, rng.normal(centre, 0.3, (200, 2)), delimiter=",", header="x,y", comments="")


def test_dropped_csv_becomes_the_data_set_and_is_remembered(window, tmp_path):
    win = window()
    csv = tmp_path / "pts.csv"
    write_points(csv, -1.0)
    since = len(win.frames)
    drop(win.w, str(csv))
    frame = win.new_run_frame(since)
    assert win.c.running_config.data.name == "drawn"
    assert np.allclose(frame.arms[0].static.data.mean(0), -1, atol=0.1)
    assert win.w.recent_data.paths() == [str(csv.resolve())]


def test_dropped_checkpoint_opens(window, tmp_path):
    win = window()
    win.train(3)
    path = tmp_path / "run.safetensors"
    win.c.save_checkpoint(path)
    win.wait(lambda: "Saved checkpoint" in win.w.statusBar().currentMessage())
    win.w.reset_action.trigger()
    win.wait(lambda: win.last.step == 0)
    drop(win.w, str(path))
    win.wait(lambda: win.last.step == 3)
    assert "Opened checkpoint" in win.w.statusBar().currentMessage()


def test_dropped_preset_and_share_string_apply_settings(window, tmp_path):
    win = window()
    from ebm_studio.core.presets import save_preset

    preset = tmp_path / "mine.toml"
    save_preset(win.c.config.with_value("sampler.step_size", 0.03), preset)
    drop(win.w, str(preset))
    win.wait(lambda: win.c.running_config.sampler.step_size == 0.03)
    assert win.w.recent_presets.paths() == [str(preset.resolve())]
    drop(win.w, encode(win.c.config.with_value("sampler.step_size", 0.02)), as_text=True)
    win.wait(lambda: win.c.running_config.sampler.step_size == 0.02)


def test_bad_drops_are_one_sentence_and_change_nothing(window, tmp_path):
    win = window()
    before, frames = win.c.config, len(win.frames)
    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"PK")
    cases = [
        (str(odd), False, "notes.docx"),
        (str(tmp_path / "gone.csv"), False, "gone.csv"),
        ("ebm1:@@not-base64@@", True, "damaged"),
    ]
    bad_image = tmp_path / "broken.png"
    bad_image.write_bytes(b"not a png")
    cases.append((str(bad_image), False, "broken.png"))
    for target, as_text, named in cases:
        drop(win.w, target, as_text)
        message = win.w.statusBar().currentMessage()
        assert named in message, message
        assert message.count(". ") == 0 and "\n" not in message  # one sentence
        assert win.c.config == before
    assert all(f.arms[0].static is None for f in win.frames[frames:])  # no new run


def test_dropped_image_becomes_the_density(window, tmp_path):
    from PIL import Image

    win = window()
    img = np.zeros((16, 16), np.uint8)
    img[2:6, 10:14] = 255  # a bright square, top right
    path = tmp_path / "blob.png"
    Image.fromarray(img).save(path)
    since = len(win.frames)
    drop(win.w, str(path))
    frame = win.new_run_frame(since)
    assert win.c.running_config.data.name == "image"
    assert (frame.arms[0].static.data.mean(0) > 0).all()


def test_about_names_the_versions_and_device(window):
    win = window()
    about = next(a for a in win.w.help_menu.actions() if a.text().startswith("&About"))
    assert about is win.w.about_action
    text = win.w.about_dialog().text()
    for v in (torch.__version__, qVersion(), PySide6.__version__, pg.__version__):
        assert v in text
    assert "Device" in text and "cpu" in text


def test_shortcut_list_has_every_action_with_a_shortcut(window):
    win = window()

    def walk(actions):
        for a in actions:
            yield a
            if a.menu() is not None:
                yield from walk(a.menu().actions())

    reachable = set(walk(win.w.menuBar().actions())) | set(win.w.transport.actions())
    reachable |= set(win.w.actions())
    expected = {
        a.text().replace("&", "").rstrip(".").strip()
        for a in reachable
        if isinstance(a, QAction) and not a.shortcut().isEmpty()
    }
    shown = {name for name, _keys in ShortcutsDialog(win.w).rows()}
    assert {"Play", "Open checkpoint", "Keyboard shortcuts"} <= expected
    assert expected <= shown


def test_documentation_opens_the_docs_folder(window, monkeypatch):
    win = window()
    opened = []
    monkeypatch.setattr(help_menu, "open_url", lambda url: opened.append(url) or True)
    win.w.docs_action.trigger()
    assert opened and opened[0].toLocalFile().endswith("docs")
    assert (help_menu.DOCS_DIR / "architecture.md").is_file()


def test_sampler_fields_follow_the_sampler(window):
    win = window()
    p = win.w.controls.param

    def visible(key):
        return p(key).opts.get("visible", True)

    p("sampler.kind").setValue("langevin")
    assert visible("sampler.noise_mode") and not visible("sampler.adapt")
    assert not visible("sampler.noise")  # coupled noise has no sigma of its own
    p("sampler.noise_mode").setValue("decoupled")
    assert visible("sampler.noise")
    p("sampler.kind").setValue("mala")
    assert visible("sampler.adapt") and not visible("sampler.noise_mode")
    assert not visible("sampler.target_accept")
    p("sampler.adapt").setValue(True)
    assert visible("sampler.target_accept")
    p("sampler.kind").setValue("rwmh")
    assert not visible("sampler.adapt") and not visible("sampler.grad_clamp")
    assert visible("sampler.step_size") and visible("sampler.temperature")
    assert not visible("sampler.pt_replicas") and not visible("sampler.hmc_leapfrog")
    p("sampler.kind").setValue("pt")
    assert visible("sampler.pt_replicas") and visible("sampler.grad_clamp")
    assert not visible("sampler.hmc_leapfrog") and not visible("sampler.noise_mode")
    # A whole new config (a preset) updates the panel as well.
    win.c.set_config(win.c.config.with_value("sampler.kind", "mala"))
    assert visible("sampler.adapt")


def test_light_theme_colours_plots_and_persists(window, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    win = window(settings=settings)
    win.w.theme_actions["light"].trigger()
    assert win.w.landscape.backgroundBrush().color() == QColor("#ffffff")
    assert settings.value("theme") == "light"
    win.w.close()
    again = window(settings=settings)
    assert again.w.theme == "light" and again.w.theme_actions["light"].isChecked()
    assert again.w.landscape.backgroundBrush().color() == QColor("#ffffff")
    again.train(2)
    again.w.curves.redraw()
    loss = again.w.curves.curves["loss"]  # drawn near-white for the dark plots
    again.w.theme_timer.timeout.emit()
    assert loss.opts["pen"].color().lightness() < 128
    again.w.set_theme("dark")
    assert again.w.landscape.backgroundBrush().color() == QColor("#15161a")
    assert loss.opts["pen"].color() == QColor("#f0f0f0")  # its own colour again


def test_recent_menus_open_their_entries(window, tmp_path):
    win = window()
    csv = tmp_path / "pts.csv"
    write_points(csv, 1.0)
    win.w.recent_data.add(str(csv))
    menu: QMenu = win.w.recent_data_menu
    since = len(win.frames)
    next(a for a in menu.actions() if a.text() == "pts.csv").trigger()
    frame = win.new_run_frame(since)
    assert np.allclose(frame.arms[0].static.data.mean(0), 1, atol=0.1)


def test_gui_command_refuses_an_unknown_target(capsys):
    from ebm_studio import cli

    assert cli.main(["gui", "picture.xyz"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "picture.xyz" in err and ".safetensors" in err and err.count("\n") == 1


def test_gui_command_target_opens_in_the_window(qtbot, monkeypatch, tmp_path, small_config):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ebm_studio.core.targets import classify
    from ebm_studio.gui.app import run_app
    from ebm_studio.gui.main_window import MainWindow

    monkeypatch.setattr(
        "ebm_studio.gui.app.QSettings",
        lambda *a: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
    )
    monkeypatch.setattr(
        "ebm_studio.gui.app.initial_config", lambda preset, settings: (small_config(), "test")
    )
    wanted = small_config(**{"sampler.step_size": 0.04})
    seen, tries = [], []

    def close_when_applied():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        live = [w for w in windows if w.isVisible() and w.frames_drawn > 0]
        tries.append(1)
        if live and live[0].controller.running_config.sampler.step_size == 0.04:
            seen.append(live[0])
            live[0].close()
        elif live and len(tries) > 1200:  # a minute: give up, so the test fails, not hangs
            live[0].close()
        else:
            QTimer.singleShot(50, close_when_applied)

    QTimer.singleShot(50, close_when_applied)
    assert run_app(target=classify(encode(wanted))) == 0
    assert seen
