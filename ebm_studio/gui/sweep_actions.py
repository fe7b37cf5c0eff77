"""File > Open sweep... and Run > Sweep... (README.md, Sweeps).

A sweep runs as a separate process (``python -m ebm_studio.cli sweep``, started by QProcess):
never a thread of the studio, whose GIL the trials would hold. Its progress is read from the
folder it writes (the trials' result.json files) and shown in the status bar.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QProcess, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
)

from ..core.config import ConfigError
from ..core.overrides import format_assignments
from .sweep_window import CHECKPOINT, SweepError, SweepWindow

if TYPE_CHECKING:
    from .main_window import MainWindow


def install_sweep_actions(w: MainWindow) -> None:
    """Add File > Open sweep... and Run > Sweep... to ``w``'s menus."""
    menus = {a.text(): a.menu() for a in w.menuBar().actions() if a.menu() is not None}
    w.sweep_windows = []
    w.sweep_process = None
    w.open_sweep_action = menus["&File"].addAction("Open s&weep...", lambda: open_sweep_dialog(w))
    before = w.open_checkpoint_action
    menus["&File"].removeAction(w.open_sweep_action)
    menus["&File"].insertAction(before, w.open_sweep_action)
    w.sweep_action = menus["&Run"].addAction("S&weep...", lambda: SweepDialog(w).open())
    w.sweep_action.setToolTip("Run these settings over a grid of values and seeds (on Ray)")


def open_sweep_dialog(w: MainWindow) -> None:
    folder = QFileDialog.getExistingDirectory(w, "Open sweep folder")
    if folder:
        open_sweep(w, folder)


def open_sweep(w: MainWindow, folder: str | Path) -> SweepWindow | None:
    """The small-multiples window of ``folder``; a folder that is no sweep is one message."""
    try:
        win = SweepWindow(folder, parent=w)
    except SweepError as e:
        w.statusBar().showMessage(str(e), 10000)
        return None
    win.checkpoint_requested.connect(w.open_checkpoint)
    win.compare_requested.connect(lambda a, b: compare_trials(w, a, b, win))
    w.sweep_windows.append(win)
    win.show()
    return win


def compare_trials(w: MainWindow, a: str, b: str, sweep: SweepWindow | None = None):
    """Compare mode on two trials' checkpoints: arm A continues trial ``a``, arm B trial
    ``b`` (weights, optimizer, settings, history), in lock-step from where they stopped. Two
    trials that do not share data and seed (or lack a readable checkpoint) are one sentence in
    the status bar, and no window opens."""
    from ..core.arm_checkpoints import arm_overrides, read_configs
    from ..core.checkpoint import CheckpointError
    from .compare import CompareWindow

    paths = [Path(t) / CHECKPOINT for t in (a, b)]
    try:
        ca, cb = read_configs(paths)
    except CheckpointError as e:
        w.statusBar().showMessage(str(e), 15000)
        if sweep is not None:
            sweep.status.setText(str(e))
        return None
    overrides = format_assignments(arm_overrides(ca, cb))
    win = CompareWindow(ca, None, overrides=overrides, parent=w)
    win.open_checkpoints(*paths)
    w.sweep_windows.append(win)
    win.show()
    return win


class SweepDialog(QDialog):
    """Settings to sweep (one ``section.key=v1,v2`` a line), seeds, steps and the folder."""

    def __init__(self, w: MainWindow) -> None:
        super().__init__(w)
        self.w = w
        self.setWindowTitle("Sweep")
        self.grids = QPlainTextEdit("sampler.step_size=0.005,0.01,0.02")
        self.grids.setToolTip(
            "one setting a line: section.key=v1,v2,... (keys of the settings tree)"
        )
        self.seeds = QLineEdit("0-2")
        self.steps = QSpinBox()
        self.steps.setRange(1, 10_000_000)
        self.steps.setValue(w.controller.config.train.steps)
        self.out = QLineEdit(str(Path.home() / "ebm-sweeps" / "sweep"))
        self.restore()
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d62728;")
        form = QFormLayout(self)
        form.addRow("Settings", self.grids)
        form.addRow("Seeds", self.seeds)
        form.addRow("Steps", self.steps)
        form.addRow("Folder", self.out)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.launch)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def arguments(self) -> list[str]:
        """The command line, checked as the CLI checks it (raises ConfigError)."""
        from ..core.presets import save_preset
        from ..sweep.spec import build_spec, check_out_dir, parse_seeds

        cfg = self.w.controller.config.with_value("train.steps", self.steps.value())
        grids = [line.strip() for line in self.grids.toPlainText().splitlines() if line.strip()]
        seeds = self.seeds.text().strip()
        out = Path(self.out.text().strip()).expanduser()
        spec = build_spec(cfg, grids, parse_seeds(seeds))
        check_out_dir(out, spec)
        base = Path(tempfile.mkdtemp(prefix="ebm-sweep-")) / "base.toml"
        save_preset(cfg, base)
        args = ["-m", "ebm_studio.cli", "sweep", str(base), "--out", str(out), "--seeds", seeds]
        for g in grids:
            args += ["--grid", g]
        return args

    def launch(self) -> None:
        try:
            args = self.arguments()
        except ConfigError as e:
            self.error.setText(str(e))
            return
        if (
            self.w.sweep_process is not None
            and self.w.sweep_process.state() != QProcess.ProcessState.NotRunning
        ):
            self.error.setText("a sweep is already running; wait for it to finish")
            return
        self.remember()
        SweepRun(self.w, args, Path(args[args.index("--out") + 1]))
        self.accept()

    def restore(self) -> None:
        """The values of the last sweep launched from here (QSettings)."""
        st = self.w.settings
        if st is None:
            return
        for key, widget in (("grids", self.grids), ("seeds", self.seeds), ("out", self.out)):
            value = st.value(f"sweep/{key}")
            if isinstance(value, str) and value:
                (widget.setPlainText if key == "grids" else widget.setText)(value)

    def remember(self) -> None:
        st = self.w.settings
        if st is not None:
            st.setValue("sweep/grids", self.grids.toPlainText())
            st.setValue("sweep/seeds", self.seeds.text())
            st.setValue("sweep/out", self.out.text())


class SweepRun:
    """The sweep process and its progress in the status bar."""

    def __init__(self, w: MainWindow, args: list[str], out: Path) -> None:
        self.w, self.out = w, out
        self.proc = QProcess(w)
        self.proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.proc.finished.connect(self.finished)
        self.timer = QTimer(w)
        self.timer.timeout.connect(self.progress)
        w.sweep_process = self.proc
        self.proc.start(sys.executable, args)
        self.timer.start(1000)
        w.statusBar().showMessage(f"Sweep started: {out}", 5000)

    def counts(self) -> tuple[int, int]:
        import json

        try:
            manifest = json.loads((self.out / "sweep.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0, 0
        total = len(manifest.get("trials", []))
        done = sum(
            (self.out / "trials" / t["id"] / "result.json").exists() for t in manifest["trials"]
        )
        return done, total

    def progress(self) -> None:
        done, total = self.counts()
        if total:
            self.w.statusBar().showMessage(f"Sweep: {done} of {total} trials finished ({self.out})")
            if not any(
                isinstance(x, SweepWindow) and x.folder == self.out for x in self.w.sweep_windows
            ):
                open_sweep(self.w, self.out)

    def finished(self, code: int, _status) -> None:
        self.timer.stop()
        if code == 0:
            done, total = self.counts()
            self.w.statusBar().showMessage(
                f"Sweep finished: {done} of {total} trials ({self.out})", 10000
            )
        else:
            text = bytes(self.proc.readAll().data()).decode(errors="replace").strip().splitlines()
            last = next(
                (ln for ln in reversed(text) if ln.startswith("error:")), text[-1] if text else ""
            )
            self.w.statusBar().showMessage(f"Sweep stopped (exit {code}): {last}", 15000)
