"""Shared test set-up: Qt runs headless, and no test may leave a QThread running."""

from __future__ import annotations

import os
import sys

# Before any Qt import (pytest-qt imports Qt when it loads): no display needed.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_leftover_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (napari's check): record every QThread
    started during the test, and after it (and its widgets) are torn down, none may run."""
    if "PySide6.QtCore" not in sys.modules:  # a test that never touches Qt
        yield
        return
    from PySide6.QtCore import QThread

    started: list[QThread] = []
    original = QThread.start

    def recording_start(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield
    leftover = [t for t in started if t.isRunning()]
    for t in leftover:  # stop them so that one failure does not cascade into the next tests
        stop = getattr(t, "request_stop", None) or t.requestInterruption
        stop()
        t.wait(30_000)
    if leftover:
        names = ", ".join(type(t).__name__ for t in leftover)
        pytest.fail(f"test left {len(leftover)} QThread(s) running: {names}")


def pytest_terminal_summary(terminalreporter):
    """Print the table of presets trained in this session (KL reached, seconds): the numbers
    the README and closing notes quote come from here."""
    mod = sys.modules.get("preset_runs")
    if mod is None or not mod.train_preset.cache_info().currsize:
        return
    tr = terminalreporter
    tr.section("presets trained in this session")
    tr.write_line(f"{'preset':<18} {'dataset':<12} {'KL':>7} {'bound':>6} {'logZ err':>9} "
                  f"{'steps':>6} {'seconds':>8} {'steps/s':>8}")  # fmt: skip
    for run in mod.completed_runs():
        f = run.final
        err = f.get("log_z_error")
        steps = run.preset.config.train.steps
        tr.write_line(
            f"{run.preset.name:<18} {run.dataset:<12} {f.get('kl', float('nan')):>7.3f} "
            f"{run.preset.kl_bound.get(run.dataset, float('nan')):>6.2f} "
            f"{'-' if err is None else f'{err:.3f}':>9} {steps:>6} {run.seconds:>8.1f} "
            f"{steps / run.seconds:>8.1f}" + (f"  [{run.arm}]" if run.arm else "")
        )
