"""Screenshot of the small-multiples window of a sweep folder (for the README).

    ebm-studio sweep pcd --out /tmp/sw --grid sampler.step_size=0.005,0.01,0.02 \
        --grid objective.alpha=0.02,0.2 --seeds 0-1 --steps 300
    xvfb-run -a -s "-screen 0 1600x1000x24" python -m ebm_studio.gui.sweep_screenshot \
        /tmp/sw --out resources/sweep.png
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--out", default="resources/sweep.png")
    ap.add_argument("--size", default="", help="window size WxH (default: fits the thumbnails)")
    args = ap.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .app import configure_runtime
    from .screenshot import save_grab
    from .sweep_window import SweepWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_runtime()
    window = SweepWindow(args.folder)
    if args.size:
        w, h = (int(v) for v in args.size.split("x"))
        window.resize(w, h)
    window.show()

    def grab() -> None:
        out = save_grab(window, args.out)
        print(f"wrote {out}")
        window.close()

    QTimer.singleShot(1500, grab)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
