"""The small-multiples window of a sweep folder (File > Open sweep...; README.md, Sweeps).

One landscape thumbnail per trial, laid out by the swept values (rows by the first swept
setting, columns by the others; seeds through a selector or all side by side), each titled
with its final KL and framed in a colour from a chosen metric, or all sorted by that metric.
The folder is polled, so a running sweep's trials appear as they finish. Double-click opens a
trial's checkpoint in the main window; two selected trials open in compare mode.

It reads only JSON (``sweep.json``, ``trials/*/result.json``) and PNGs: nothing is unpickled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

POLL_MS = 1000
THUMB = 150
TITLE_H = 20
METRICS = ("kl", "nll", "log_z_error")
CHECKPOINT = "checkpoint.safetensors"  # what every trial folder holds (sweep/trial.py)
# Low (good) to high (bad): a metric's rank among the finished trials picks the frame colour.
RAMP = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027")


def fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


class SweepError(ValueError):
    """A folder that is not a readable sweep (one sentence naming it)."""


def read_sweep(folder: Path) -> dict[str, Any]:
    path = folder / "sweep.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SweepError(f"{folder}: not a sweep folder (no readable sweep.json: {e})") from None
    if not isinstance(d, dict) or d.get("format") != "ebm-studio-sweep" or "trials" not in d:
        raise SweepError(f"{folder}: sweep.json is not an ebm-studio sweep manifest")
    return d


def titled(pix: QPixmap, title: str) -> QPixmap:
    """The landscape scaled to a thumbnail with ``title`` (its final KL) drawn above it."""
    out = QPixmap(THUMB, THUMB + TITLE_H)
    out.fill(QColor("#202020"))
    p = QPainter(out)
    p.drawPixmap(0, TITLE_H, pix.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
    p.setPen(QColor("#f0f0f0"))
    p.drawText(0, 0, THUMB, TITLE_H, Qt.AlignmentFlag.AlignCenter, title)
    p.end()
    return out


class Thumb(QLabel):
    """One trial: landscape, title, frame colour; click selects, double-click opens."""

    clicked = Signal(str)
    double_clicked = Signal(str)

    def __init__(self, trial: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trial = trial
        self.id: str = trial["id"]
        self.record: dict[str, Any] | None = None
        self.selected = False
        self.colour = "#888888"
        self.setFixedSize(THUMB + 12, THUMB + TITLE_H + 12)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setToolTip(
            " ".join(f"{k}={fmt(v)}" for k, v in trial["overrides"]) + f" seed {trial['seed']}"
        )
        self.show_record(None, None)

    def show_record(self, record: dict[str, Any] | None, png: Path | None) -> None:
        self.record = record
        label = " ".join(fmt(v) for _, v in self.trial["overrides"]) + f" s{self.trial['seed']}"
        if record is None:
            self.setText(f"{label}\n(running or pending)")
        elif record.get("status") != "ok":
            self.setText(f"{label}\n{record.get('status')}")
        else:
            kl = record.get("metrics", {}).get("kl")
            title = f"KL {kl:.3g}" if kl is not None else "done"
            pix = QPixmap(str(png)) if png is not None and png.exists() else QPixmap()
            if pix.isNull():
                self.setText(f"{label}\n{title}")
            else:
                self.setPixmap(titled(pix, title))
            self.setToolTip(f"{label} | {title}")
            self.title = title
        self._style()

    def set_colour(self, colour: str) -> None:
        self.colour = colour
        self._style()

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self._style()

    def _style(self) -> None:
        width = 5 if self.selected else 3
        border = "#2060ff" if self.selected else self.colour
        self.setStyleSheet(f"QLabel {{ border: {width}px solid {border}; }}")

    def metric_value(self, key: str) -> float | None:
        if self.record is None or self.record.get("status") != "ok":
            return None
        v = self.record.get("metrics", {}).get(key)
        return v if isinstance(v, (int, float)) and math.isfinite(v) else None

    def mousePressEvent(self, event) -> None:  # Qt override
        self.clicked.emit(self.id)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # Qt override
        self.double_clicked.emit(self.id)


class SweepWindow(QMainWindow):
    """Small multiples of one sweep folder."""

    checkpoint_requested = Signal(str)  # a trial's checkpoint path
    compare_requested = Signal(str, str)  # two trials' folders (config.toml, checkpoint)

    def __init__(self, folder: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.manifest = read_sweep(self.folder)
        self.setWindowTitle(f"Sweep: {self.folder.name}")
        self.keys = [k for k, _ in self.manifest.get("grids", [])]
        self.thumbs: dict[str, Thumb] = {}
        self.selection: list[str] = []
        self.seen: dict[str, str | None] = {}  # result.json text per trial, as last read
        for t in self.manifest["trials"]:
            th = Thumb(t)
            th.clicked.connect(self.toggle)
            th.double_clicked.connect(self.open_trial)
            self.thumbs[t["id"]] = th

        self.seed_box = QComboBox()
        self.seed_box.addItem("all seeds", None)
        for s in self.manifest.get("seeds", []):
            self.seed_box.addItem(f"seed {s}", s)
        self.metric_box = QComboBox()
        self.metric_box.addItems(METRICS)
        self.order_box = QComboBox()
        self.order_box.addItems(["by setting", "sorted by metric"])
        self.compare_button = QPushButton("Compare selected")
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare_selected)
        self.status = QLabel()
        bar = QHBoxLayout()
        for text, w in (
            ("Show", self.seed_box),
            ("Colour by", self.metric_box),
            ("Order", self.order_box),
        ):
            bar.addWidget(QLabel(text))
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.compare_button)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.addLayout(bar)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.status)
        self.setCentralWidget(body)
        for box in (self.seed_box, self.metric_box, self.order_box):
            box.currentIndexChanged.connect(self.relayout)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.poll)
        self.poll()
        self.timer.start(POLL_MS)
        self.resize(min(1500, 200 + 170 * self._columns()), min(1000, 140 + 200 * self._rows()))

    # ---------------------------------------------------------------- folder
    def poll(self) -> None:
        """Reread the trials' results; redraw only when one changed."""
        changed = False
        for tid, th in self.thumbs.items():
            d = self.folder / "trials" / tid
            try:
                text = (d / "result.json").read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            if text == self.seen.get(tid):
                continue
            self.seen[tid] = text
            try:
                record = None if text is None else json.loads(text)
            except json.JSONDecodeError:
                record = None
            th.show_record(record if isinstance(record, dict) else None, d / "landscape.png")
            changed = True
        if changed or not self.grid.count():
            self.relayout()
        done = sum(th.record is not None for th in self.thumbs.values())
        self.status.setText(f"{done} of {len(self.thumbs)} trials finished  |  {self.folder}")
        if done == len(self.thumbs):
            self.timer.setInterval(5 * POLL_MS)  # finished: a resumed run may still add some

    # ---------------------------------------------------------------- layout
    def visible(self) -> list[Thumb]:
        seed = self.seed_box.currentData()
        return [th for th in self.thumbs.values() if seed is None or th.trial["seed"] == seed]

    def _row_values(self) -> list:
        return [fmt(v) for v in self.manifest["grids"][0][1]] if self.keys else [""]

    def _col_key(self, th: Thumb) -> str:
        rest = [fmt(v) for _, v in th.trial["overrides"][1:]]
        if self.seed_box.currentData() is None:
            rest.append(f"s{th.trial['seed']}")
        return " ".join(rest)

    def _columns(self) -> int:
        return max(1, len({self._col_key(th) for th in self.visible()}))

    def _rows(self) -> int:
        return max(1, len(self._row_values()))

    def relayout(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            w = item.widget()
            if isinstance(w, Thumb):
                w.hide()  # kept: re-added below
            elif w is not None:
                w.hide()
                w.deleteLater()  # a header label; Qt deletes it once its events are done
        shown = self.visible()
        self._colour(shown)
        metric = self.metric_box.currentText()
        if self.order_box.currentIndex() == 1:
            ordered = sorted(
                shown,
                key=lambda th: (th.metric_value(metric) is None, th.metric_value(metric) or 0),
            )
            cols = max(1, min(8, math.ceil(math.sqrt(len(ordered)))))
            for i, th in enumerate(ordered):
                self.grid.addWidget(th, i // cols, i % cols)
                th.show()
            return
        rows = self._row_values()
        cols: list[str] = []
        for th in shown:
            if self._col_key(th) not in cols:
                cols.append(self._col_key(th))
        col_title = " ".join(self.keys[1:]) or (
            "seed" if self.seed_box.currentData() is None else ""
        )
        for j, c in enumerate(cols):
            self.grid.addWidget(QLabel(f"{col_title} {c}".strip()), 0, j + 1)
        for i, r in enumerate(rows):
            self.grid.addWidget(QLabel(f"{self.keys[0]}\n{r}" if self.keys else ""), i + 1, 0)
        for th in shown:
            r = fmt(th.trial["overrides"][0][1]) if self.keys else ""
            self.grid.addWidget(th, rows.index(r) + 1, cols.index(self._col_key(th)) + 1)
            th.show()

    def _colour(self, shown: list[Thumb]) -> None:
        metric = self.metric_box.currentText()
        values = sorted(v for th in shown if (v := th.metric_value(metric)) is not None)
        for th in shown:
            v = th.metric_value(metric)
            if v is None or len(values) < 2:
                th.set_colour("#888888")
            else:
                rank = values.index(v) / (len(values) - 1)
                th.set_colour(RAMP[min(len(RAMP) - 1, int(rank * len(RAMP)))])

    # ---------------------------------------------------------------- actions
    def toggle(self, tid: str) -> None:
        if tid in self.selection:
            self.selection.remove(tid)
        else:
            self.selection.append(tid)
            if len(self.selection) > 2:
                self.selection.pop(0)
        for k, th in self.thumbs.items():
            th.set_selected(k in self.selection)
        self.compare_button.setEnabled(len(self.selection) == 2)

    def checkpoint(self, tid: str) -> Path:
        return self.folder / "trials" / tid / CHECKPOINT

    def open_trial(self, tid: str) -> None:
        path = self.checkpoint(tid)
        if not path.exists():
            self.status.setText(f"trial {tid} has no checkpoint yet")
            return
        self.checkpoint_requested.emit(str(path))

    def compare_selected(self) -> None:
        if len(self.selection) == 2:
            a, b = (str(self.folder / "trials" / t) for t in self.selection)
            self.compare_requested.emit(a, b)

    def closeEvent(self, event) -> None:  # Qt override
        self.timer.stop()
        super().closeEvent(event)
