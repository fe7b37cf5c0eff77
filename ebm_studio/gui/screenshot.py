"""Screenshot of the running app, made with the app itself (for the README).

    xvfb-run -s "-screen 0 1600x1000x24" python -m ebm_studio.gui.screenshot \
        --out resources/screenshot.png --seconds 45

Opens the window with a preset (default: the app's default preset; an image preset such as
``img-ml`` opens image mode) and fresh settings, trains for ``--seconds`` (or exactly
``--steps`` steps), grabs the window and writes a PNG; ``--theme light --about about.png``
also grabs Help > About (the README's desktop screenshots).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def save_grab(widget, out: str | Path) -> Path:
    """Grab ``widget`` as it is on screen into the PNG ``out`` (folders made as needed)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="resources/screenshot.png")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--seconds", type=float, default=45.0)
    ap.add_argument(
        "--steps",
        type=int,
        default=0,
        help="train exactly this many steps (Train N), then grab (in place of --seconds)",
    )
    ap.add_argument("--size", default="1600x1000", help="window size WxH")
    ap.add_argument("--theme", choices=("light", "dark", "system"), default=None)
    ap.add_argument("--about", default=None, help="also grab Help > About into this PNG")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--dock", choices=("curves", "health"), default=None, help="dock to raise")
    ap.add_argument(
        "--click",
        action="append",
        default=[],
        metavar="STEP@SECONDS",
        help="press the Guide dock's step button STEP (from 0) SECONDS after the start",
    )
    args = ap.parse_args(argv)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ..core.overrides import parse_value
    from ..core.presets import load_preset
    from .app import DEFAULT_PRESET, configure_runtime, initial_config
    from .guide import show_preset_guide
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_runtime()
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        config, title = initial_config(args.preset or DEFAULT_PRESET, settings)
        for item in args.set:
            key, _, text = item.partition("=")
            config = config.with_value(key.strip(), parse_value(text.strip()))
        window = MainWindow(config, settings=settings, title=title)
        if args.theme:
            window.set_theme(args.theme)
        w, h = (int(v) for v in args.size.split("x"))
        window.resize(w, h)
        window.show()

        if args.preset:  # the preset's guide, if it has one (the run keeps any --set)
            show_preset_guide(window, load_preset(args.preset))
        if args.dock == "health":
            window.health_dock.raise_()
        elif args.dock == "curves":
            window.curves_dock.raise_()

        def start() -> None:
            if window.last_snapshot is None:
                QTimer.singleShot(100, start)
                return
            if args.steps > 0:
                window.controller.train_steps(args.steps)
                QTimer.singleShot(500, grab_when_trained)
                return
            if not args.click:
                window.controller.play()
            for item in args.click:
                index, _, when = item.partition("@")
                button = window.guide.buttons[int(index)]
                QTimer.singleShot(int(float(when or 0) * 1000), button.click)
            QTimer.singleShot(int(args.seconds * 1000), grab)

        def grab_when_trained() -> None:
            snap = window.last_snapshot
            if snap is None or snap.step < args.steps or window.controller.state != "paused":
                QTimer.singleShot(250, grab_when_trained)
                return
            QTimer.singleShot(1000, grab)  # the paused frame's plane and histogram arrive

        def grab() -> None:
            if args.about:  # a paused run: the window shows the same step as the dialog
                window.controller.pause()
            out = save_grab(window, args.out)
            step, banner = window.last_snapshot.step, window.banner.text()
            print(f"wrote {out} at step {step}" + (f"; banner: {banner}" if banner else ""))
            if not args.about:
                window.close()
                return
            about = window.about_dialog()
            about.show()
            QTimer.singleShot(300, lambda: grab_about(about))

        def grab_about(about) -> None:
            print(f"wrote {save_grab(about, args.about)}")
            about.close()
            window.close()

        QTimer.singleShot(0, start)
        return app.exec()


if __name__ == "__main__":
    sys.exit(main())
