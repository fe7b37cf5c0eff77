"""A long session: the window draws each frame into the items it already has, so what it holds
does not grow with the number of frames (issue 20: bounded everything else)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractAnimation, QObject
from PySide6.QtWidgets import QGraphicsView

WARMUP_STEPS = 10
FRAMES = 100  # a per-frame leak of one item shows as +100


def census(w) -> dict[str, int]:
    """Items in every scene the window shows, and the window's QObject descendants (not
    the style's animations: Qt starts and deletes those as widgets change state)."""
    views = w.findChildren(QGraphicsView)
    objects = [o for o in w.findChildren(QObject) if not isinstance(o, QAbstractAnimation)]
    return {
        "scene_items": sum(len(v.scene().items()) for v in views if v.scene() is not None),
        "qobjects": len(objects),
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
    before = census(win.w)
    drawn = win.w.frames_drawn
    win.train(FRAMES)
    draw_curves(win.w)
    after = census(win.w)
    assert after == before, f"{before} -> {after} over {win.w.frames_drawn - drawn} frames"
