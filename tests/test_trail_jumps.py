"""Chain trails break at augmentation moves and restarts: the sampler reports which chains
jumped, the trainer's snapshots carry it, and the landscape never joins a jump's two ends."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ebm_studio.core.config import Config, SamplerConfig
from ebm_studio.core.samplers import Sampler
from ebm_studio.core.trainer import Trainer
from ebm_studio.gui.trails import trail_paths


def test_the_sampler_reports_the_chains_an_augmentation_move_jumped():
    cfg = dataclasses.replace(SamplerConfig(), augment="jump", augment_every=3, augment_mh=False)
    sampler = Sampler(cfg, box=4.0)
    energy = lambda x: (x**2).sum(-1)  # noqa: E731
    x0 = torch.zeros(16, 2)
    gen = torch.Generator().manual_seed(0)
    sampler.run(energy, x0, 2, gen)  # fewer steps than augment_every: no move
    assert not sampler.moved.any()
    sampler.run(energy, x0, 3, gen)  # one move, accepted by every chain (no MH test)
    assert sampler.moved.all() and sampler.moved.shape == (16,)


def test_snapshots_carry_the_trail_jumps_of_a_jumping_sampler(small_config):
    cfg = small_config(**{"sampler.augment": "jump", "sampler.augment_every": 5})
    t = Trainer(cfg)
    t.train(4)
    snap = t.snapshot(grid=False)
    assert snap.trails is not None and snap.trail_jumps.shape == snap.trails.shape[:2]
    assert snap.trail_jumps[:, 1:].any()  # sampler.steps = 5: every update has a move
    plain = Trainer(small_config())
    plain.train(4)
    assert not plain.snapshot(grid=False).trail_jumps[:, 1:].any()  # PCD, p_data = 0


def test_trail_paths_cut_the_segment_into_a_jump_and_list_it_as_a_hop():
    trails = np.arange(2 * 4 * 2, dtype=float).reshape(2, 4, 2)
    jumps = np.zeros((2, 4), bool)
    jumps[0, 2] = True  # trail 0 jumped from point 1 to point 2
    pts, connect, hops = trail_paths(trails, jumps)
    assert connect.tolist() == [True, False, True, False, True, True, True, False]
    np.testing.assert_array_equal(hops, [trails[0, 1], trails[0, 2]])
    assert len(pts) == 8


def test_a_drawn_trail_does_not_connect_the_two_ends_of_a_jump(qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from ebm_studio.core.frames import Snapshot
    from ebm_studio.gui.export import qimage_to_rgb
    from ebm_studio.gui.landscape import TRAIL_COLOUR, LandscapeView

    view = LandscapeView(dataclasses.replace(Config().view, trail_jumps="hidden"))
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    energy = np.zeros((50, 50), np.float32)
    # A scripted chain: a short walk, a jump across the box, a short walk.
    trail = np.array([[[-3.0, -3.0], [-2.5, -3.0], [-2.0, -3.0], [3.0, 3.0], [3.5, 3.0]]])

    def trail_pixels(jumps, x: float, y: float) -> int:
        snap = Snapshot(0, 4.5, energy, None, None, trail, None, None, trail_jumps=jumps)
        view.show_snapshot(snap)
        for _ in range(3):
            QApplication.processEvents()
        img = qimage_to_rgb(view.grab().toImage())
        q = view.mapFromScene(view.plot.getViewBox().mapViewToScene(QPointF(x, y)))
        patch = img[max(q.y() - 6, 0) : q.y() + 6, max(q.x() - 6, 0) : q.x() + 6].astype(int)
        return int((np.abs(patch - np.array(TRAIL_COLOUR)).sum(-1) < 60).sum())

    jumped = np.array([[False, False, False, True, False]])
    assert trail_pixels(jumped, -2.25, -3.0) > 0  # a walk segment is drawn
    assert trail_pixels(jumped, 0.5, 0.0) == 0  # the jump's midpoint is not
    assert trail_pixels(None, 0.5, 0.0) > 0  # without jump information it would be
