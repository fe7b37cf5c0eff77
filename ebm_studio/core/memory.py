"""Give freed heap memory back to the operating system.

glibc keeps memory that Python, numpy and torch have freed inside its arenas, and a long
session's resident size then climbs in steps that are free space, not live data (a freed
multi-MB block raises glibc's mmap threshold, so later blocks of that size land in the heap
and fragment it). ``malloc_trim(0)`` returns every free page of every arena. Other C
libraries (macOS, Windows, musl) have no such call; there this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


def can_release_free_memory() -> bool:
    return _malloc_trim() is not None


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True if any were released."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
