"""Screenshot of compare mode, made with the app itself (for the README).

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m ebm_studio.gui.compare_screenshot \
        --preset cd --set-b "objective.name=nce, objective.nu=4" --steps 800 \
        --out resources/compare.png

Opens the compare window on a preset (arm A) and arm B's overrides, trains both arms exactly
``--steps`` steps in lock-step, lets the curves redraw, grabs the window and writes a PNG.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="resources/compare.png")
    ap.add_argument("--preset", default="cd")
    ap.add_argument("--set-b", default="objective.name=nce, objective.nu=4")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--size", default="1600x1000", help="window size WxH")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ..core.overrides import apply_assignments, parse_assignments
    from ..core.presets import load_preset
    from .app import configure_runtime
    from .compare import CompareWindow
    from .screenshot import save_grab

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_runtime()
    config = apply_assignments(load_preset(args.preset).config, parse_assignments(args.set))
    window = CompareWindow(config, overrides=args.set_b)
    window.setWindowTitle(f"{window.windowTitle()} — {args.preset}")
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()

    def start() -> None:
        if window.last_frame is None:
            QTimer.singleShot(100, start)
            return
        window.train_n.setValue(args.steps)
        window.train_n_action.trigger()
        QTimer.singleShot(500, wait_done)

    def wait_done() -> None:
        frame = window.last_frame
        if frame is None or frame.step < args.steps or window.controller.state != "paused":
            QTimer.singleShot(250, wait_done)
            return
        window.curves.redraw()
        QTimer.singleShot(500, grab)  # let the last heatmaps and curves paint

    def grab() -> None:
        out = save_grab(window, args.out)
        print(f"wrote {out} at step {window.last_frame.step}")
        window.close()

    QTimer.singleShot(0, start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
