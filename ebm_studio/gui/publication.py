"""File > Export > Publication figure: the core figure module (matplotlib, paper or dark style,
PDF/SVG/PNG/EPS) drawn from what the window shows now: the current frame's grid, chains and
buffer at the same step, the curves' rows and markers. Compare exports both arms side by side
on one colour scale with their curves overlaid. "As on screen" stays the pyqtgraph exporter.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QLineEdit,
    QWidget,
)

from ..core.figures import (
    DOUBLE_COLUMN_IN,
    FigureError,
    RunData,
    compare_figure,
    final_metrics,
    run_figure,
    save_figure,
)
from ..core.figures.style import FORMATS, MAX_WIDTH_IN, MIN_WIDTH_IN, STYLES
from .export import save_form, write_failure
from .landscape import LandscapeView


def run_data_from_view(view: LandscapeView, history, events, config, preset: str = "") -> RunData:
    """A ``RunData`` of what ``view`` shows (its last grid and frame) and the given curves."""
    shown = view.shown_layers()
    if shown.energy is None:
        raise FigureError("nothing to export yet: the landscape has not been drawn")
    snap = shown.last
    history = list(history)
    return RunData(
        box=shown.box,
        energy=shown.energy,
        data=shown.data,
        chains=None if snap is None else snap.chains,
        buffer=None if snap is None else snap.buffer,
        buffer_age=None if snap is None else snap.buffer_age,
        true_log_p=shown.true_log_p,
        history=history,
        events=list(events),
        step=0 if snap is None else snap.step,
        preset=preset,
        objective=config.objective.name,
        dataset=config.data.name,
        metrics=final_metrics(history),
    )


def series_history(series: dict, arm: str) -> list[dict[str, float]]:
    """Rows {step, kl, nll} from a compare window's per-(arm, metric) ``Series``."""
    rows: dict[float, dict[str, float]] = {}
    for key in ("kl", "nll"):
        s = series.get((arm, key))
        if s is None:
            continue
        for x, y in zip(*s.data()):
            rows.setdefault(float(x), {"step": float(x)})[key] = float(y)
    return [rows[k] for k in sorted(rows)]


def export_main_window(window, path, *, style="paper", width_in=DOUBLE_COLUMN_IN, log_kl=False):
    """The main window's publication figure: landscape (the view's heatmap quantity and
    colour map), samples and curves (curves only when there are some)."""
    events = [m.event for m in window.curves.markers]
    config = window.controller.config
    run = run_data_from_view(window.landscape, window.history, events, config)
    panels = ["landscape", "samples"] + (["curves"] if run.has_curves() else [])
    fig = run_figure(
        run,
        panels,
        style=style,
        width_in=width_in,
        log_kl=log_kl,
        quantity=config.view.heatmap,
        cmap=config.view.colormap,
    )
    save_figure(fig, path)


def export_compare_window(window, path, *, style="paper", width_in=DOUBLE_COLUMN_IN, log_kl=False):
    """Both arms side by side on a shared colour scale, their curves overlaid."""
    arms = window.curves.arms
    config = window.controller.config
    runs = [
        run_data_from_view(v.landscape, series_history(window.curves.series, arm), (), config)
        for v, arm in zip(window.views, arms)
    ]
    fig = compare_figure(
        runs,
        list(arms),
        style=style,
        width_in=width_in,
        log_kl=log_kl,
        quantity=config.view.heatmap,
        cmap=config.view.colormap,
    )
    save_figure(fig, path)


def export_publication(window, path, **options) -> bool:
    """Write ``window``'s publication figure to ``path``; a failure is one sentence in the
    window's banner and nothing is left under ``path``."""
    export = export_compare_window if hasattr(window, "views") else export_main_window
    try:
        export(window, path, **options)
    except FigureError as e:
        window.show_error(f"Could not export {Path(path).name}: {e}.")
        return False
    except OSError as e:
        window.show_error(write_failure(path, e))
        return False
    window.statusBar().showMessage(f"Exported {path}", 8000)
    return True


class PublicationDialog(QDialog):
    """Style, width in inches, log-scale KL and the file (its suffix picks the format)."""

    def __init__(self, parent: QWidget | None = None, directory: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export publication figure")
        self.directory = directory
        self.style_box = QComboBox()
        for name in STYLES:
            self.style_box.addItem(name, name)
        self.width_in = QDoubleSpinBox()
        self.width_in.setRange(MIN_WIDTH_IN, MAX_WIDTH_IN)
        self.width_in.setDecimals(2)
        self.width_in.setSingleStep(0.25)
        self.width_in.setValue(DOUBLE_COLUMN_IN)
        self.width_in.setSuffix(" in")
        self.width_in.setToolTip("3.35 in: one journal column; 6.75 in: two columns")
        self.log_kl = QCheckBox("logarithmic KL axis")
        self.path = QLineEdit()
        self.path.setPlaceholderText("figure.pdf")
        rows = [("Style", self.style_box), ("Width", self.width_in), ("", self.log_kl)]
        save_form(self, rows, self.path, self._on_browse_clicked, self._on_accepted)

    def choice(self) -> tuple[str, dict]:
        path = self.path.text().strip()
        if not Path(path).suffix:
            path += ".pdf"
        options = {
            "style": self.style_box.currentData(),
            "width_in": self.width_in.value(),
            "log_kl": self.log_kl.isChecked(),
        }
        return path, options

    def _on_browse_clicked(self) -> None:
        filters = ";;".join(f"{f.upper()} (*.{f})" for f in FORMATS)
        start = self.path.text().strip() or str(Path(self.directory) / "figure.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export publication figure", start, filters)
        if path:
            self.path.setText(path)

    def _on_accepted(self) -> None:
        if not self.path.text().strip():
            self.path.setText(str(Path(self.directory) / "figure.pdf"))
        self.accept()


def publication_dialog(window) -> None:
    """File > Export > Publication figure: ask, then write (errors in the banner)."""
    directory = window.recent.last_dir() if hasattr(window, "recent") else ""
    dialog = PublicationDialog(window, directory)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    path, options = dialog.choice()
    export_publication(window, path, **options)


__all__ = [
    "PublicationDialog",
    "export_publication",
    "publication_dialog",
    "run_data_from_view",
    "series_history",
]
