"""The main window's files: presets, checkpoints, exported figures and metrics, share strings.

Every refusal (a bad preset, an unwritable folder, a damaged share string) is one sentence in
the banner and the status bar; nothing is half-written (``core.atomic``) and the run goes on.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QFileDialog

from ..core.config import ConfigError
from .app import APP_NAME
from .export import ExportDialog, ExportError, export_figure, write_failure
from .guide import show_preset_guide


class FileActions:
    """Mixed into ``MainWindow`` (the File and Edit menus' work); uses its ``controller``,
    ``landscape``, ``curves``, ``history``, ``recent`` and ``show_error``."""

    # ------------------------------------------------------------------ presets
    def open_preset(self, name_or_path: str | Path) -> bool:
        from ..core.presets import load_preset

        try:
            preset = load_preset(name_or_path)
        except ConfigError as e:
            self.show_error(str(e))
            return False
        self.controller.set_config(preset.config)
        self.setWindowTitle(f"{APP_NAME} — {preset.name}")
        if preset.guide is not None:
            show_preset_guide(self, preset)
        elif preset.explanation or preset.description:
            self.statusBar().showMessage(preset.explanation or preset.description, 15000)
        return True

    def save_preset(self, path: str | Path) -> bool:
        """Save the settings shown (pending edits included) as a TOML preset, atomically."""
        from ..core.presets import save_preset

        try:
            save_preset(self.controller.config, path)
        except OSError as e:
            self.show_error(write_failure(path, e))
            return False
        self.statusBar().showMessage(f"Saved preset {path}", 8000)
        return True

    def open_preset_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", "", "Presets (*.toml)")
        if path:
            self.open_preset(path)

    def save_preset_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "", "Presets (*.toml)")
        if path:
            self.save_preset(path if path.endswith(".toml") else path + ".toml")

    # ------------------------------------------------------------------ checkpoints
    def open_checkpoint(self, path: str | Path) -> None:
        """Replace the run with a saved one (the worker loads it between two steps); a
        refused file is reported through ``file_failed`` and the run goes on."""
        self.controller.load_checkpoint(str(path))

    def save_checkpoint(self, path: str | Path) -> None:
        self.controller.save_checkpoint(str(path))

    def recent_files(self) -> list[str]:
        return self.recent.paths()

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open checkpoint", self.recent.last_dir(), "Checkpoints (*.safetensors)"
        )
        if path:
            self.open_checkpoint(path)

    def save_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save checkpoint", self.recent.last_dir(), "Checkpoints (*.safetensors)"
        )
        if path:
            if not path.endswith(".safetensors"):
                path += ".safetensors"
            self.save_checkpoint(path)

    # ------------------------------------------------------------------ export
    def export_figure(self, target: str, path: str | Path, width: int = 1600) -> bool:
        """Write the landscape, the curves or both to PNG/SVG; a failure is one sentence in
        the banner and status bar, and nothing is left under ``path``."""
        try:
            export_figure(target, path, self.landscape, self.curves, width)
        except ExportError as e:
            self.show_error(str(e))
            return False
        self.statusBar().showMessage(f"Exported {path}", 8000)
        return True

    def export_dialog(self) -> None:
        dialog = ExportDialog(self, self.recent.last_dir())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        target, path, width = dialog.choice()
        self.export_figure(target, path, width)

    def export_metrics_csv(self, path: str | Path) -> bool:
        """The run's metric history as CSV (one row per logged step), written atomically."""
        from ..core.atomic import atomic_write_text
        from ..core.history import metrics_csv

        try:
            atomic_write_text(path, metrics_csv(self.history))
        except OSError as e:
            self.show_error(write_failure(path, e))
            return False
        self.statusBar().showMessage(f"Exported {len(self.history)} metric rows to {path}", 8000)
        return True

    def export_metrics_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "", "CSV (*.csv)")
        if path:
            self.export_metrics_csv(path if path.endswith(".csv") else path + ".csv")

    # ------------------------------------------------------------------ share strings
    def share_string(self) -> str:
        from ..core.share import encode

        return encode(self.controller.config)

    def copy_share_string(self) -> None:
        QGuiApplication.clipboard().setText(self.share_string())
        self.statusBar().showMessage("Copied the share string to the clipboard", 8000)

    def paste_share_string(self, text: str) -> bool:
        """Apply a share string's settings with a new run; garbage is refused, unchanged."""
        from ..core.share import decode

        try:
            config = decode(text)
        except ConfigError as e:
            self.show_error(f"Cannot paste: {str(e).rstrip('.')}.")
            return False
        self.controller.set_config(config)
        self.statusBar().showMessage("Applied the pasted share string (new run)", 8000)
        return True

    def paste_share_from_clipboard(self) -> None:
        self.paste_share_string(QGuiApplication.clipboard().text())


__all__ = ["FileActions"]
