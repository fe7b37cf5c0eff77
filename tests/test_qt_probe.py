"""Starts everywhere: the paragraph printed when Qt's platform plugin cannot load."""

from __future__ import annotations

import pytest

from ebm_studio.gui import qt_probe
from ebm_studio.gui.qt_probe import ProbeResult, failure_message, missing_libraries, package_for

# What Qt 6.11 prints on a fresh Debian machine (captured with QT_DEBUG_PLUGINS=1, trimmed).
QT_MISSING_ICCCM = """\
qt.core.library: "/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/libqxcb.so" \
cannot load: Cannot load library /venv/.../libqxcb.so: (libxcb-icccm.so.4: cannot open shared \
object file: No such file or directory)
qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform \
plugin.
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
This application failed to start because no Qt platform plugin could be initialized. \
Reinstalling the application may fix this problem.

Available platform plugins are: eglfs, linuxfb, minimal, offscreen, vnc, wayland, xcb.
"""
LDD = """\
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0000000000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0000000000)
"""
NO_DISPLAY = """\
qt.qpa.xcb: could not connect to display
qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform \
plugin.
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
"""


@pytest.mark.parametrize(
    "soname, package",
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),  # name ends in a digit: a hyphen
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libEGL.so.1", "libegl1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_package_names_follow_debian(soname, package):
    assert package_for(soname) == package


def test_message_names_missing_libraries_and_the_install_command():
    msg = failure_message(QT_MISSING_ICCCM, LDD)
    assert "\n" not in msg  # one paragraph
    assert '"xcb" platform plugin' in msg
    for lib in ("libxcb-icccm.so.4", "libxcb-cursor0", "libxcb-keysyms.so.1"):
        assert lib in msg
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in msg
    # Each package once, though Qt and ldd both name libxcb-icccm.
    install = msg.split("sudo apt-get install -y ")[1].split(" (")[0].split()
    assert len(install) == len(set(install))


def test_qt_hint_is_dropped_when_ldd_finds_the_library():
    # Qt prints the xcb-cursor hint on every xcb failure; it is not the cause when resolved.
    ldd = (
        "\tlibxcb-cursor.so.0 => /lib/libxcb-cursor.so.0 (0x1)\n\tlibxcb-icccm.so.4 => not found\n"
    )
    assert missing_libraries(QT_MISSING_ICCCM, ldd) == ["libxcb-icccm.so.4"]


def test_without_names_the_usual_packages_are_suggested():
    msg = failure_message('qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in ""')
    assert "did not say which" in msg
    assert "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in msg


def test_no_display_is_not_blamed_on_libraries():
    msg = failure_message(NO_DISPLAY, LDD)
    assert "no X display" in msg and "apt-get" not in msg


def test_gui_command_prints_the_paragraph_and_exits_2(monkeypatch, capsys):
    from ebm_studio import cli

    started = []
    monkeypatch.setattr(qt_probe, "start_probe", lambda: started.append(1) or None)
    monkeypatch.setattr(qt_probe, "finish_probe", lambda _c: ProbeResult(False, QT_MISSING_ICCCM))
    monkeypatch.setattr(qt_probe, "ldd_of", lambda _p: LDD)
    assert cli.main(["gui"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert started and "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4" in err


def test_probe_is_skipped_for_headless_platforms():
    assert not qt_probe.needs_probe({"QT_QPA_PLATFORM": "offscreen"})
