"""Image mode in the studio (offscreen): digits swap the landscape for the image views, whose
plane and class histogram the worker computes; a 2D dataset brings the landscape back."""

from __future__ import annotations

import numpy as np

from ebm_studio.core.principal_plane import PLANE_RES, plane_energy, principal_plane

N_CHAINS = 16  # a 4 x 4 grid of 8x8 tiles


def digits_config(small_config):
    return small_config(
        **{
            "data.name": "digits",
            "data.n_train": 300,
            "data.n_test": 100,
            "sampler.n_chains": N_CHAINS,
            "buffer.size": N_CHAINS,
            "train.batch_size": 16,
            "model.arch": "conv",
            "model.channels": 4,
        }
    )


def test_digits_show_the_image_views_and_a_2d_dataset_restores_the_landscape(window, small_config):
    win = window(digits_config(small_config))
    w = win.w
    assert w.image_mode.stack.currentWidget() is w.image_mode.view
    win.train(3)
    view = w.image_mode.view
    # grid: N tiles of 8x8 pixels, drawn as one mosaic
    win.wait(lambda: view.grid_shape is not None)
    assert view.grid_shape == (N_CHAINS, 64)
    win.wait(lambda: view.class_histogram is not None and view.plane_shape is not None)
    assert view.plane_shape == (PLANE_RES, PLANE_RES)
    assert sum(view.class_histogram) == N_CHAINS
    img = view.grid_image.image
    assert img.min() >= -1.0 - 1e-6 and img.shape[0] > 8  # more than one tile row
    assert view.strip_image.image is not None
    assert "2D only" in w.controls.root.child("view").opts["title"]
    assert not w.data_panel.draw_button.isEnabled()
    # conv on 2D data is refused in one sentence; switching to 2D gives back the landscape
    since = len(win.frames)
    w.data_panel.picker.setCurrentIndex(w.data_panel.picker.findData("moons"))
    win.new_run_frame(since)
    assert w.image_mode.stack.currentWidget() is w.landscape
    assert "2D only" not in w.controls.root.child("view").opts["title"]
    assert w.data_panel.draw_button.isEnabled()
    assert win.c.config.model.arch == "mlp"
    assert not win.c.set_value("model.arch", "conv")
    assert win.c.config.model.arch == "mlp"


def test_step_size_edit_reaches_the_worker_in_image_mode(window, small_config):
    win = window(digits_config(small_config))
    param = win.w.controls.param("sampler.step_size")
    old = win.c.config.sampler.step_size
    param.setValue(old * 2)
    win.w.step_action.trigger()
    win.wait(
        lambda: any(
            e.key == "sampler.step_size" and e.new == old * 2
            for f in win.frames
            for e in f.arms[0].events
            if hasattr(e, "key")
        )
    )


def test_plane_energy_is_the_energy_on_the_principal_plane():
    gen = torch_gen()
    import torch

    data = torch.randn(200, 1, 2, 2, generator=gen) * torch.tensor([3.0, 1.0, 0.1, 0.1]).reshape(
        1, 1, 2, 2
    )
    plane = principal_plane(data)
    # the first component is the widest axis (pixel 0); an energy of pixel 0 only varies along u
    model = torch.nn.Module()
    model.forward = lambda x: x.reshape(len(x), -1)[:, 0] ** 2  # type: ignore[method-assign]
    model.register_parameter("p", torch.nn.Parameter(torch.zeros(1)))
    e = plane_energy(model, plane, res=9)
    assert e.shape == (9, 9)
    assert np.ptp(e, axis=1).max() > 10 * np.ptp(e, axis=0).max()


def torch_gen():
    import torch

    return torch.Generator().manual_seed(0)


def test_mosaic_puts_tile_i_at_row_i_div_cols_and_pads_with_black():
    from ebm_studio.gui.image_views import PAD, mosaic

    x = np.random.default_rng(0).uniform(-0.9, 0.9, (7, 3, 4)).astype(np.float32)
    out = mosaic(x, cols=3)  # 3 rows of 3 columns, the last two tiles empty
    assert out.shape == (3 * (3 + PAD) + PAD, 3 * (4 + PAD) + PAD)
    for i in range(7):
        r, c = divmod(i, 3)
        y0, x0 = PAD + r * (3 + PAD), PAD + c * (4 + PAD)
        np.testing.assert_array_equal(out[y0 : y0 + 3, x0 : x0 + 4], x[i])
    assert np.count_nonzero(out == -1.0) == out.size - x.size  # borders and empty tiles
