"""File > Compose...: the product, mixture or difference of two energies (checkpoints or a
dataset's exact energy), measured on the grid and opened in the studio as a checkpoint.

The work is ``core.compose.compose_to_checkpoint`` in a background thread; its progress goes to
the status bar, its result (log Z, KL to the truth, the distillation's KL) to the dialog, and
the composed checkpoint replaces the run, to be sampled, trained or exported like any other.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..core.compose import OPS, ComposeError, compose_to_checkpoint

if TYPE_CHECKING:
    from .main_window import MainWindow


class ComposeJob(QThread):
    """``compose_to_checkpoint`` off the GUI thread."""

    progressed = Signal(int)
    done = Signal(object)  # the result dict
    failed = Signal(str)

    def __init__(self, a: str, b: str, op: str, out: str, steps: int) -> None:
        super().__init__()
        self.args = (a, b, op, out, steps)

    def run(self) -> None:  # Qt override, in the job's thread
        a, b, op, out, steps = self.args
        try:
            r = compose_to_checkpoint(
                a, b, op, out, steps=steps, progress=lambda i: self.progressed.emit(i)
            )
        except (ComposeError, ValueError, OSError) as e:
            self.failed.emit(str(e))
            return
        self.done.emit(r)


class ComposeDialog(QDialog):
    def __init__(self, w: MainWindow) -> None:
        super().__init__(w)
        self.setWindowTitle("Compose energies")
        self.w = w
        self.job: ComposeJob | None = None
        self.result: dict | None = None
        self.out = str(Path(tempfile.mkdtemp(prefix="ebm-compose-")) / "composed.safetensors")
        self.a, self.b = QLineEdit("data:8gaussians"), QLineEdit("data:rings")
        self.op = QComboBox()
        self.op.addItems(OPS)
        self.steps = QSpinBox()
        self.steps.setRange(10, 100_000)
        self.steps.setValue(2000)
        self.status = QLabel("A and B: a checkpoint file or data:NAME (a dataset's exact energy).")
        self.status.setWordWrap(True)
        self.go = QPushButton("Compose and open")
        self.go.clicked.connect(self.start)
        form = QFormLayout(self)
        form.addRow("A", self._with_browse(self.a))
        form.addRow("B", self._with_browse(self.b))
        form.addRow("operation", self.op)
        form.addRow("fit steps", self.steps)
        form.addRow(self.status)
        form.addRow(self.go)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        b = QPushButton("Browse...")
        b.clicked.connect(lambda: self._browse(edit))
        row.addWidget(b)
        return box

    def _browse(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            edit.setText(path)

    def start(self) -> None:
        a, b = self.a.text().strip(), self.b.text().strip()
        self.go.setEnabled(False)
        self.status.setText("composing...")
        self.job = ComposeJob(a, b, self.op.currentText(), self.out, self.steps.value())
        total = self.steps.value()
        self.job.progressed.connect(
            lambda i: self.w.statusBar().showMessage(f"Compose: fitting {i}/{total}", 2000)
        )
        self.job.done.connect(self._done)
        self.job.failed.connect(self._failed)
        self.job.start()

    def _done(self, r: dict) -> None:
        self.result = r
        kl = "n/a (no exact truth)" if r["kl_to_truth"] is None else f"{r['kl_to_truth']:.4f}"
        self.status.setText(
            f"log Z {r['log_z']:.4f} (grid); KL to the truth {kl}; fitted into the MLP with "
            f"KL {r['distil_kl']:.4f} nats. Opened in the studio."
        )
        self.go.setEnabled(True)
        self.w.open_checkpoint(self.out)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.go.setEnabled(True)
        self.w.show_error(message)

    def closeEvent(self, event) -> None:  # Qt override: never leave the job running
        if self.job is not None:
            self.job.wait()
        super().closeEvent(event)


def install_compose(w: MainWindow) -> None:
    """File > Compose... (the File menu is found by its title)."""
    for act in w.menuBar().actions():
        if act.menu() is not None and act.text().replace("&", "") == "File":
            menu = act.menu()
            first = menu.actions()[0] if menu.actions() else None
            compose = menu.addAction("Co&mpose...")
            compose.setToolTip("Product, mixture or difference of two energies")
            compose.triggered.connect(lambda: open_compose(w))
            if first is not None:  # near the top, with the other ways to get a model
                menu.removeAction(compose)
                menu.insertAction(first, compose)
            return


def open_compose(w: MainWindow) -> ComposeDialog:
    w.compose_dialog = ComposeDialog(w)
    w.compose_dialog.show()
    return w.compose_dialog


__all__ = ["ComposeDialog", "install_compose", "open_compose"]
