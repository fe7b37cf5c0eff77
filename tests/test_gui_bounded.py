"""A long session: the window draws each frame into the items it already has, so what it holds
does not grow with the number of frames (README, Long sessions)."""

from __future__ import annotations

import gc

import pyqtgraph as pg

WARMUP_STEPS = 10
FRAMES = 100  # a per-frame leak of one item shows as +100


def census() -> dict[str, int]:
    """Live pyqtgraph items and Qt wrappers made from Python, counted on the Python side.

    Not through ``scene().items()`` or ``findChildren``: those make Python wrappers for
    C++-owned objects, and a wrapper left behind for a deleted object (whose address Qt then
    reuses) crashed later tests in the same process."""
    gc.collect()
    # type(o), not isinstance: isinstance reads __class__, which some lazy modules warn on.
    types = [type(o) for o in gc.get_objects()]  # the worker is paused here (win.train returned)
    return {
        "graphics_items": sum(issubclass(t, pg.GraphicsItem) for t in types),
        "qt_wrappers": sum(str(getattr(t, "__module__", "")).startswith("PySide6") for t in types),
    }


def draw_curves(w) -> None:
    """What the curves' timer does, now: every logged metric gets its curve."""
    w.curves.redraw()
    assert set(w.curves.curves) == set(w.curves.series)


def test_window_items_stay_constant_over_frames(window, small_config):
    tiny = {"model.width": 16, "model.depth": 1, "sampler.steps": 1, "view.fps": 120}
    win = window(small_config(**tiny))
    win.c.set_steps_per_frame(1)  # one frame per step: FRAMES steps are FRAMES frames
    win.train(WARMUP_STEPS)
    draw_curves(win.w)
    before = census()
    drawn = win.w.frames_drawn
    win.train(FRAMES)
    draw_curves(win.w)
    after = census()
    # A leak of one object per frame adds FRAMES; other tests' windows may still be collected
    # meanwhile (counts only fall), and a few items are made lazily on first use.
    grown = {k: after[k] - before[k] for k in before}
    frames = win.w.frames_drawn - drawn
    assert all(g < FRAMES // 4 for g in grown.values()), f"{before} -> {after} over {frames} frames"
