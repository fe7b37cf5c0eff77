"""The studio hands freed heap pages back to the OS (core/memory.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ebm_studio.core.memory import can_release_free_memory

# Holes left in the heap by freeing every other 100 KB block (below glibc's mmap threshold, so
# they come from the heap) stay resident until trimmed; run in a fresh interpreter so the
# allocator's state is this script's alone.
FRAGMENT = textwrap.dedent(
    """
    import numpy as np
    from ebm_studio.core.memory import release_free_memory

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(s.split()[1]) for s in f if s.startswith("VmRSS:")) / 1024

    blocks = [np.ones(100_000 // 8) for _ in range(2000)]  # 200 MB, touched
    del blocks[::2]  # 100 MB of holes between live blocks
    before = rss_mb()
    released = release_free_memory()
    print(before, rss_mb(), released)
    """
)


@pytest.mark.skipif(not can_release_free_memory(), reason="glibc's malloc_trim only")
def test_release_free_memory_returns_the_holes_of_a_fragmented_heap():
    out = subprocess.run(
        [sys.executable, "-c", FRAGMENT], capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, released = float(out[0]), float(out[1]), out[2]
    assert released == "True"
    # 100 MB were freed; most must leave the resident set (91 measured).
    assert before - after > 70, (before, after)


def test_the_studio_trims_the_heap_periodically(qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ebm_studio.gui import app as studio_app
    from ebm_studio.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    timers = [
        t
        for t in QApplication.instance().findChildren(QTimer)
        if t.objectName() == "memory_trim"
    ]
    if not can_release_free_memory():
        assert timers == []
        return
    assert len(timers) == 1 and timers[0].isActive()
    assert timers[0].interval() == studio_app.TRIM_INTERVAL_MS
