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
