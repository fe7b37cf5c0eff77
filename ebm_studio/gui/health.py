"""Chain health and buffer inspector: acceptance, ESS and split R-hat of chain energies over a
sliding window, energy histograms of data vs chains vs buffer, the buffer coloured by age, its
age histogram and the re-initialisation fractions.

Frames only append to small ring buffers; the statistics and plots are recomputed at most
``REDRAW_HZ`` times a second by the panel's own timer (keeps per-frame GUI work small).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..core.frames import Frame, Snapshot
from ..core.metrics import autocorrelation, ess, split_rhat
from .plotting import cosmetic_pen, dots

REDRAW_HZ = 4.0
WINDOW = 200  # frames of chain energies kept for ESS / R-hat
REINIT_ROWS = 500  # training steps over which re-initialisation fractions are averaged
HEALTH_CHAINS = 64
BUFFER_SHOWN = 3000  # buffer points drawn (coloured by age)
AGE_BANDS = 8  # colours of the buffer view, young (dark) to old (yellow)
COLOURS = {"data": "#4fc3f7", "chains": "#ff8a65", "buffer": "#ba68c8"}


def age_bands(age: np.ndarray, n: int) -> list[np.ndarray]:
    """Masks splitting points into ``n`` equal-width bands of age, youngest first (every
    point in exactly one band)."""
    top = max(int(age.max()), 1) if len(age) else 1
    idx = np.minimum((np.asarray(age, dtype=np.int64) * n) // (top + 1), n - 1)
    return [idx == i for i in range(n)]


def _dot_pen(colour: tuple[int, ...]):
    return cosmetic_pen(colour, width=3, cap=Qt.PenCapStyle.RoundCap)


class HealthPanel(QWidget):
    """Chain diagnostics and the replay-buffer inspector, fed by snapshots."""

    def __init__(self, controller=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._energies: deque[np.ndarray] = deque(maxlen=WINDOW)
        self._accept: deque[float] = deque(maxlen=REINIT_ROWS)
        self._reinit: deque[tuple[float, float]] = deque(maxlen=REINIT_ROWS)
        self._last: Snapshot | None = None
        self._step: float | None = None
        self._swaps: tuple[float, ...] | None = None
        self._dirty = False
        self.values: dict[str, float | None] = {}

        self.labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        names = [
            ("acceptance", "acceptance"),
            ("step", "MALA step size"),
            ("ess", "ESS (window)"),
            ("rhat", "split R-hat"),
            ("window", "window (frames x chains)"),
            ("reinit_noise", "re-init from noise"),
            ("reinit_data", "re-init from data"),
            ("age", "buffer age mean / max"),
            ("swaps", "PT swap rate, T0-T1 ..."),
        ]
        for i, (key, title) in enumerate(names):
            grid.addWidget(QLabel(title + ":"), i, 0)
            lab = QLabel("-")
            lab.setObjectName(f"health_{key}")
            self.labels[key] = lab
            grid.addWidget(lab, i, 1)
        # MALA step adaptation toward a target acceptance (sampler.adapt / target_accept).
        self._controller = controller
        self.adapt = QCheckBox("adapt MALA step to acceptance")
        self.adapt.setObjectName("health_adapt")
        self.adapt.setToolTip(
            "After each update, multiply the MALA step by exp(0.5 (acceptance - target)) "
            "(sampler.adapt). Takes effect with the MALA sampler."
        )
        self.target = QDoubleSpinBox()
        self.target.setObjectName("health_target")
        self.target.setRange(0.05, 0.95)  # SamplerConfig.target_accept bounds
        self.target.setSingleStep(0.05)
        self.target.setDecimals(3)
        self.target.setPrefix("target ")
        row = len(names)
        grid.addWidget(self.adapt, row, 0)
        grid.addWidget(self.target, row, 1)
        grid.setRowStretch(row + 1, 1)
        if controller is not None:
            self.show_config(controller.config)
            controller.config_changed.connect(self.show_config)
            controller.config_edited.connect(lambda _key, cfg: self.show_config(cfg))
            self.adapt.toggled.connect(lambda on: controller.set_value("sampler.adapt", on))
            self.target.valueChanged.connect(
                lambda v: controller.set_value("sampler.target_accept", float(v))
            )

        self.hist_plot = pg.PlotWidget(title="energy: data / chains / buffer")
        self.hist_plot.addLegend(offset=(-5, 5), labelTextColor="#dddddd")
        self.hist_curves = {
            k: self.hist_plot.plot([0, 1], [0], stepMode="center", pen=pg.mkPen(c, width=2), name=k)
            for k, c in COLOURS.items()
        }
        self.acf_plot = pg.PlotWidget(title="energy autocorrelation")
        self.acf_plot.setLabel("bottom", "lag (frames)")
        self.acf_curve = self.acf_plot.plot([], [], pen=pg.mkPen("#ffd54f", width=2))
        self.buffer_plot = pg.PlotWidget(title="buffer coloured by age")
        self.buffer_plot.setAspectLocked(True)
        # One dot curve per age band (a ScatterPlotItem with a brush per point spent ~2 ms of
        # Python per redraw on 3000 points, holding the GIL the training thread needs).
        lut = pg.colormap.get("viridis").getLookupTable(nPts=AGE_BANDS, alpha=False)
        self.buffer_dots = [
            pg.PlotCurveItem(connect="pairs", pen=_dot_pen(tuple(int(v) for v in c))) for c in lut
        ]
        for i, item in enumerate(self.buffer_dots):
            item.setZValue(AGE_BANDS - i)  # the few young points on top of the old majority
            self.buffer_plot.addItem(item)
        self.age_plot = pg.PlotWidget(title="buffer age (updates)")
        self.age_curve = self.age_plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, brush="#7986cb", pen="#7986cb"
        )
        # Parallel tempering: swap acceptance of each adjacent pair of rungs (shown with PT).
        self.swap_plot = pg.PlotWidget(title="PT swap acceptance per pair")
        self.swap_plot.setYRange(0, 1)
        self.swap_plot.setLabel("bottom", "pair (T_k, T_k+1), coldest first")
        self.swap_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#81c784")
        self.swap_plot.addItem(self.swap_bars)
        self.swap_plot.setVisible(False)

        left = QVBoxLayout()
        left.addLayout(grid)
        row = QHBoxLayout(self)
        row.addLayout(left)
        for w in (self.hist_plot, self.acf_plot, self.buffer_plot, self.age_plot, self.swap_plot):
            row.addWidget(w, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        if controller is not None:
            controller.frame_ready.connect(self._on_frame_ready)
            controller.run_reset.connect(self.clear_run)

    def show_config(self, config) -> None:
        """Reflect the run's adaptation settings without sending them back."""
        s = config.sampler
        for w in (self.adapt, self.target):
            w.blockSignals(True)
        self.adapt.setChecked(s.adapt)
        self.target.setValue(s.target_accept)
        for w in (self.adapt, self.target):
            w.blockSignals(False)
        self.target.setEnabled(s.adapt)
        self.adapt.setEnabled(s.kind == "mala")

    # ------------------------------------------------------------------ input
    def _on_frame_ready(self, frame: Frame) -> None:
        self.add_snapshot(frame.arms[0])

    def add_snapshot(self, snap: Snapshot) -> None:
        """Store what the statistics need (cheap); plots refresh on the timer."""
        for r in snap.rows:
            if "acceptance" in r:
                self._accept.append(r["acceptance"])
            if "sampler_step" in r:
                self._step = r["sampler_step"]
            if "reinit_noise" in r:
                self._reinit.append((r["reinit_noise"], r.get("reinit_data", 0.0)))
        if snap.sample is not None and snap.sample.acceptance is not None:
            self._accept.append(float(snap.sample.acceptance))
        if snap.health is not None:
            self._swaps = snap.health.swap_rates
        e = None if snap.health is None else snap.health.chains
        if e is not None:
            e = np.asarray(e[:HEALTH_CHAINS], dtype=np.float64)
            if self._energies and self._energies[-1].shape != e.shape:
                self._energies.clear()  # the chain set changed size: a new window
            self._energies.append(e)
        self._last = snap
        self._dirty = True

    def clear_run(self, *_: object) -> None:
        self._energies.clear()
        self._accept.clear()
        self._reinit.clear()
        self._step = None
        self._swaps = None
        self._last = None
        self._dirty = True

    # ------------------------------------------------------------------ output
    def _set(self, key: str, value: float | None, fmt: str = "{:.3f}") -> None:
        self.values[key] = value
        self.labels[key].setText("-" if value is None else fmt.format(value))

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._set("acceptance", float(np.mean(self._accept)) if self._accept else None)
        self._set("step", self._step, "{:.4g}")
        if len(self._energies) >= 8:
            w = np.stack(self._energies)  # (frames, chains)
            self._set("ess", ess(w), "{:.0f}")
            self._set("rhat", split_rhat(w))
            acf = autocorrelation(w, max_lag=min(50, len(w) - 1))
            self.acf_curve.setData(np.arange(len(acf)), acf)
            self.labels["window"].setText(f"{w.shape[0]} x {w.shape[1]}")
        else:
            self._set("ess", None)
            self._set("rhat", None)
            self.acf_curve.setData([], [])
            self.labels["window"].setText(f"{len(self._energies)} frames")
        if self._reinit:
            r = np.asarray(self._reinit)
            self._set("reinit_noise", float(r[:, 0].mean()), "{:.1%}")
            self._set("reinit_data", float(r[:, 1].mean()), "{:.1%}")
        else:
            self._set("reinit_noise", None)
            self._set("reinit_data", None)
        self._draw_swaps()
        snap = self._last
        self._draw_histograms(snap)
        self._draw_buffer(snap)

    def _draw_swaps(self) -> None:
        rates = self._swaps
        self.swap_plot.setVisible(bool(rates))
        if not rates:
            self.values["swaps"] = None
            self.labels["swaps"].setText("-")
            return
        self.values["swaps"] = float(np.mean(rates))
        self.labels["swaps"].setText(" ".join(f"{r:.2f}" for r in rates))
        self.swap_bars.setOpts(x=np.arange(len(rates)), height=np.asarray(rates), width=0.7)

    def _draw_histograms(self, snap: Snapshot | None) -> None:
        health = {} if snap is None or snap.health is None else snap.health.parts()
        finite = [np.asarray(v)[np.isfinite(v)] for v in health.values()]
        finite = [v for v in finite if len(v)]
        if not finite:
            for c in self.hist_curves.values():
                c.setData([0, 1], [0])
            return
        allv = np.concatenate(finite)
        lo, hi = np.percentile(allv, [1, 99])
        edges = np.linspace(lo, hi + 1e-9, 41)
        for k, curve in self.hist_curves.items():
            v = health.get(k)
            if v is None or not len(v):
                curve.setData([0, 1], [0])
                continue
            h, _ = np.histogram(np.clip(v, lo, hi), edges, density=True)
            curve.setData(edges, h)

    def _draw_buffer(self, snap: Snapshot | None) -> None:
        if snap is None or snap.buffer is None or snap.buffer_age is None:
            for item in self.buffer_dots:
                item.setData([], [])
            self.age_curve.setData([0, 1], [0])
            self._set("age", None)
            return
        pts, age = snap.buffer[:BUFFER_SHOWN], snap.buffer_age[:BUFFER_SHOWN]
        top = max(int(age.max()), 1)
        planar = pts.ndim == 2 and pts.shape[1] == 2  # image buffers show only their ages
        for item, band in zip(self.buffer_dots, age_bands(age, AGE_BANDS)):
            item.setData(*(dots(pts[band]) if planar else ([], [])))
        h, edges = np.histogram(snap.buffer_age, bins=min(40, top + 1))
        self.age_curve.setData(edges, h)
        self.values["age"] = float(snap.buffer_age.mean())
        self.labels["age"].setText(f"{snap.buffer_age.mean():.1f} / {snap.buffer_age.max()}")
