"""Screenshots of the desktop conventions (for the README): the window in the light theme,
and Help > About.

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m ebm_studio.gui.desktop_screenshot \
        --out resources/light-theme.png --about resources/about.png --seconds 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="resources/light-theme.png")
    ap.add_argument("--about", default="resources/about.png")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--theme", default="light", choices=("light", "dark", "system"))
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from .app import DEFAULT_PRESET, configure_runtime, initial_config
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_runtime()
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        config, title = initial_config(args.preset or DEFAULT_PRESET, settings)
        window = MainWindow(config, settings=settings, title=title)
        window.set_theme(args.theme)
        window.resize(1600, 1000)
        window.show()

        def start() -> None:
            if window.last_snapshot is None:
                QTimer.singleShot(100, start)
                return
            window.controller.play()
            QTimer.singleShot(int(args.seconds * 1000), grab)

        def grab() -> None:
            window.controller.pause()
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(out))
            about = window.about_dialog()
            about.show()
            QTimer.singleShot(300, lambda: finish(about))

        def finish(about) -> None:
            about.grab().save(args.about)
            about.close()
            print(f"wrote {args.out} and {args.about} at step {window.last_snapshot.step}")
            window.close()

        QTimer.singleShot(0, start)
        return app.exec()


if __name__ == "__main__":
    sys.exit(main())
