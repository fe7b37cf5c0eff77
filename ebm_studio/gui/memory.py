"""Give freed memory back to the system while the studio trains for hours.

glibc's malloc keeps memory that the worker thread's sampling freed in its arenas; measured on
PCD, resident memory grew by tens of MB an hour that ``malloc_trim(0)`` returned (README, Long
sessions). Elsewhere (no glibc) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from PySide6.QtCore import QObject, QTimer

TRIM_INTERVAL_MS = 60_000  # a trim takes milliseconds; once a minute costs nothing visible


def _load_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


MALLOC_TRIM = _load_trim()


def trim_now() -> bool:
    """Return freed heap memory to the system; False where the C library cannot."""
    if MALLOC_TRIM is None:
        return False
    MALLOC_TRIM(0)
    return True


class MemoryTrimmer(QObject):
    """Trims the heap every ``TRIM_INTERVAL_MS`` while its parent lives."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(TRIM_INTERVAL_MS)
        self.timer.timeout.connect(trim_now)
        if MALLOC_TRIM is not None:
            self.timer.start()


__all__ = ["MemoryTrimmer", "trim_now", "TRIM_INTERVAL_MS"]
