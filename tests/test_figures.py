"""The figure module (core/figures): what a figure shows, checked on matplotlib's objects
before saving, then in the written PDF/SVG/PNG/MP4; and the CLI's refusals of bad choices."""

from __future__ import annotations

import gc
import re
import xml.etree.ElementTree as ET
import zlib

import matplotlib
import numpy as np
import pytest
from conftest import tiny_config

from ebm_studio.cli import main
from ebm_studio.core.checkpoint import save_checkpoint
from ebm_studio.core.figures import (
    QUANTITY_LABELS,
    AxesFrame,
    RunData,
    config_change_lines,
    figure_rgb,
    run_data_from_trainer,
    run_figure,
    save_figure,
    write_animation,
)
from ebm_studio.core.frames import Rollback
from ebm_studio.core.trainer import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run with evaluations every 2 steps and two live setting changes (one trainer
    for the whole module), saved as a checkpoint."""
    cfg = tiny_config(**{"train.eval_every": 2, "data.name": "8gaussians"})
    t = Trainer(cfg)
    t.train(2)
    t.apply_config(cfg.with_value("sampler.step_size", cfg.sampler.step_size * 2))
    t.train(2)
    t.apply_config(t.config.with_value("optim.lr", cfg.optim.lr / 2))
    t.train(2)
    path = tmp_path_factory.mktemp("fig") / "run.safetensors"
    save_checkpoint(t, path)
    return t, path


@pytest.fixture(scope="module")
def run(trained) -> RunData:
    return run_data_from_trainer(trained[0], res=48)


def curve_axes(fig, name: str):
    return next(ax for ax in fig.axes if ax.get_ylabel() == f"{name} (nats)")


def landscape_axes(fig):
    return next(ax for ax in fig.axes if ax.images and ax.get_title() in QUANTITY_LABELS)


def test_landscape_axes_span_the_box_and_the_colour_bar_names_the_quantity(run):
    for quantity in ("energy", "density", "log-density"):
        fig = run_figure(run, "landscape", quantity=quantity)
        ax = landscape_axes(fig)
        assert ax.get_xlim() == pytest.approx((-run.box, run.box))
        assert ax.get_ylim() == pytest.approx((-run.box, run.box))
        bars = [a for a in fig.axes if a is not ax and a.get_label() == "<colorbar>"]
        assert len(bars) == 1
        assert bars[0].get_ylabel() == QUANTITY_LABELS[quantity]
        assert quantity.split("-")[-1] in bars[0].get_ylabel()


def test_kl_axis_is_logarithmic_only_when_asked(run):
    assert curve_axes(run_figure(run, "curves", log_kl=True), "KL").get_yscale() == "log"
    assert curve_axes(run_figure(run, "curves"), "KL").get_yscale() == "linear"


def test_one_marker_per_config_change(run):
    changes = run.config_changes
    assert len(changes) == 2  # the fixture changed two live settings
    fig = run_figure(run, "curves")
    assert len(config_change_lines(curve_axes(fig, "KL"))) == len(changes)
    # Rollbacks and notes are marked differently and do not count as config changes.
    more = RunData(
        **{**run.__dict__, "events": [*run.events, Rollback(3, failed_at=4), *changes[:1]]}
    )
    assert len(config_change_lines(curve_axes(run_figure(more, "curves"), "KL"))) == 3
    xs = sorted(line.get_xdata()[0] for line in config_change_lines(curve_axes(fig, "KL")))
    assert xs == [c.step for c in changes]


def test_title_names_preset_objective_dataset_step_and_final_metrics(run):
    fig = run_figure(run, "landscape")
    title = fig.get_suptitle()
    assert "mcmc on 8gaussians" in title and f"step {run.step}" in title
    assert f"KL {run.metrics['kl']:.3g} nats" in title


def saved_tick_labels(fig, path) -> set[str]:
    """Save ``fig`` to ``path`` and return the tick labels that drawing showed (inside their
    axis' view interval). Read during the save itself: the layout, hence the ticks, differs a
    little between the vector and raster renderers' text metrics."""
    seen: set[str] = set()

    def collect(event) -> None:
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                lo, hi = sorted(axis.get_view_interval())
                for loc, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels()):
                    if lo <= loc <= hi and label.get_text() and label.get_visible():
                        seen.add(label.get_text())

    cid = fig.canvas.mpl_connect("draw_event", collect)
    save_figure(fig, path)
    fig.canvas.mpl_disconnect(cid)
    return seen


def pdf_strings(data: bytes) -> set[str]:
    """The text of each text-showing operator (``[...] TJ``, ``(...) Tj``) in the PDF's
    inflated content streams. Type 42 fonts write each character as a two-byte code
    (UTF-16BE); a ``TJ`` array splits a string where kerning moves a glyph."""
    streams = []
    for s in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            streams.append(zlib.decompress(s))
        except zlib.error:
            streams.append(s)
    out = set()
    string = rb"\((?:\\.|[^\\)])*\)"
    for op in re.findall(
        rb"\[((?:" + string + rb"|[^\]])*)\]\s*TJ|(" + string + rb")\s*Tj",
        b"\n".join(streams),
        re.S,
    ):
        pieces = re.findall(string, op[0] or op[1], re.S)
        raw = b"".join(_unescape(p[1:-1]) for p in pieces)
        out.add(raw.decode("utf-16-be", errors="replace"))
    return out


def _unescape(s: bytes) -> bytes:
    simple = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def one(m: re.Match) -> bytes:
        g = m.group(1)
        if g[:1].isdigit():
            return bytes([int(g, 8)])
        return simple.get(g, g)

    return re.sub(rb"\\([0-7]{1,3}|.)", one, s, flags=re.S)


def test_pdf_is_one_page_with_tick_labels_as_text(run, tmp_path):
    fig = run_figure(run, "landscape,curves")
    path = tmp_path / "fig.pdf"
    labels = saved_tick_labels(fig, path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 1
    missing = labels - pdf_strings(data)
    assert labels and not missing


def test_svg_has_tick_labels_as_text_elements(run, tmp_path):
    fig = run_figure(run, "landscape,samples,curves")
    path = tmp_path / "fig.svg"
    labels = saved_tick_labels(fig, path)
    root = ET.parse(path).getroot()
    texts = {"".join(e.itertext()).strip() for e in root.iter() if e.tag.endswith("}text")}
    assert labels and labels <= texts


def test_landscape_colours_span_the_colour_map(tmp_path):
    # A bowl off-centre: the highest density is at the lowest energy's cell, the lowest at
    # the far corner; both must show the ends of the colour map exactly.
    res, box = 12, 3.0
    c = np.linspace(-box, box, res + 1)[:-1] + box / res
    xx, yy = np.meshgrid(c, c)
    energy = (xx - 1.0) ** 2 + (yy + 0.5) ** 2
    fig = run_figure(RunData(box=box, energy=energy), "landscape", width_in=3.35, title=False)
    rgb = figure_rgb(fig, dpi=100)
    ax = landscape_axes(fig)
    cmap = matplotlib.colormaps["viridis"]
    for idx, end in ((np.argmin(energy), 1.0), (np.argmax(energy), 0.0)):
        r, col = divmod(int(idx), res)
        px, py = ax.transData.transform((c[col], c[r]))
        pixel = rgb[rgb.shape[0] - int(round(py)), int(round(px))].astype(int)
        expect = (np.array(cmap(end)[:3]) * 255).round().astype(int)
        assert np.abs(pixel - expect).max() <= 1, (end, pixel, expect)


# imageio-ffmpeg leaves its subprocess' pipes to the garbage collector (ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_mp4_has_every_frame_at_the_axes_frame_size(run, tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    frame = AxesFrame(run.energy, run.box, dpi=80)
    rng = np.random.default_rng(0)
    frames = [frame.frame(rng.normal(size=(200, 2))) for _ in range(7)]
    path = tmp_path / "chains.mp4"
    write_animation(frames, path, fps=10)
    with imageio.get_reader(path) as reader:
        read = [f for f in reader]
    gc.collect()  # the pipes' warnings surface here, under this test's filters
    assert len(read) == 7
    assert read[0].shape[:2] == frames[0].shape[:2]


def test_animation_points_land_inside_the_axes(run):
    frame = AxesFrame(run.energy, run.box, dpi=80)
    r, c = frame.pixels(np.array([[0.0, 0.0], [run.box * 0.9, run.box * 0.9], [99.0, 0.0]]))
    assert len(r) == 2  # the point outside the box is dropped
    # The centre of the box is the centre of the axes; +y is up (a smaller row).
    assert c[0] == pytest.approx(np.mean(frame.px), abs=1)
    assert r[0] == pytest.approx(np.mean(frame.py), abs=1)
    assert r[1] < r[0] and c[1] > c[0]


# ------------------------------------------------------------------------ CLI
def plot(ckpt, out, *extra) -> int:
    return main(["plot", str(ckpt), "--out", str(out), *extra])


def test_cli_plot_writes_each_format(trained, tmp_path):
    _, ckpt = trained
    for ext, head in (("pdf", b"%PDF"), ("svg", b"<?xml"), ("png", b"\x89PNG"), ("eps", b"%!")):
        out = tmp_path / f"fig.{ext}"
        assert plot(ckpt, out, "--res", "32", "--width-in", "3.35", "--log-kl") == 0
        assert out.read_bytes().startswith(head)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--panels", "landscape,histogram"], "'histogram'"),
        (["--style", "neon"], "'neon'"),
        (["--width-in", "0.5"], "0.5"),
        (["--width-in", "40"], "40"),
        (["--dpi", "5"], "5"),
    ],
)
def test_cli_plot_refuses_bad_choices_and_writes_nothing(trained, tmp_path, capsys, args, named):
    _, ckpt = trained
    out = tmp_path / "fig.pdf"
    assert plot(ckpt, out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and "allowed" in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_plot_refuses_an_unknown_format(trained, tmp_path, capsys):
    out = tmp_path / "fig.bmp"
    assert plot(trained[1], out) == 2
    err = capsys.readouterr().err
    assert "fig.bmp" in err and ".pdf" in err and ".svg" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_plot_refuses_curves_from_a_checkpoint_without_them(tmp_path, capsys):
    t = Trainer(tiny_config())
    t.train(2)  # eval_every is far away: no KL or NLL rows
    ckpt = tmp_path / "nocurves.safetensors"
    save_checkpoint(t, ckpt)
    out = tmp_path / "fig.pdf"
    assert plot(ckpt, out, "--panels", "curves", "--res", "32") == 2
    err = capsys.readouterr().err
    assert "nocurves.safetensors" in err and "no metric curves" in err and "allowed" in err
    assert not out.exists()
    assert plot(ckpt, out, "--panels", "landscape,samples", "--res", "32") == 0


@pytest.mark.parametrize("n", [2, 3, 4])
def test_compare_title_names_every_arm_once_and_what_they_share(n):
    from ebm_studio.core.figures import compare_figure

    rng = np.random.default_rng(0)
    runs = [
        RunData(
            box=4.0,
            energy=rng.normal(size=(16, 16)),
            step=100,
            objective=("cd", "pcd", "buffer-ml", "nce")[i],
            dataset="8gaussians",
            metrics={"kl": 0.5 / (i + 1)},
        )
        for i in range(n)
    ]
    labels = [f"arm{i}" for i in range(n)]
    title = compare_figure(runs, labels).get_suptitle()
    assert title.count("step 100") == 1  # shared parts once, not per arm
    for run, label in zip(runs, labels):
        assert title.count(f"{label}: ") == 1
        assert f"{run.objective} on 8gaussians" in title
        assert f"KL {run.metrics['kl']:.3g} nats" in title


def test_axes_frame_follows_given_levels_and_range():
    from ebm_studio.core.figures import colormap_lut

    energy = np.random.default_rng(0).normal(size=(32, 32))
    # Levels far above every energy (standard normal): the landscape is the colour map's
    # bottom colour. The range zooms into the box, twice as wide as tall.
    af = AxesFrame(
        energy, 8.0, quantity="energy", norm=(10.0, 20.0), extent=(-4.0, 4.0, -2.0, 2.0), dpi=100
    )
    (c0, c1), (r0, r1) = sorted(af.px), af.py  # r0: the bottom row (y0), r1: the top
    c0, c1, r0, r1 = round(c0), round(c1), round(r0), round(r1)
    bottom = colormap_lut("viridis")[0].astype(int)

    def is_landscape(block) -> np.ndarray:
        return np.abs(block.astype(int) - bottom).max(axis=-1) <= 2

    assert is_landscape(af.background[r1 + 2 : r0 - 2, c0 + 2 : c1 - 2]).all()
    assert (c1 - c0) / (r0 - r1) == pytest.approx(2.0, rel=0.02)
    # The landscape stops at the given range on every side (ticks and labels beyond it).
    mid_r, mid_c = (r0 + r1) // 2, (c0 + c1) // 2
    for r, c in ((mid_r, c0 - 4), (mid_r, c1 + 4), (r1 - 4, mid_c), (r0 + 4, mid_c)):
        assert not is_landscape(af.background[r, c])
    r, c = af.pixels(np.array([[3.0, 0.0], [5.0, 0.0]]))  # x = 5 is outside the range
    assert len(c) == 1 and abs(c[0] - (c0 + 7 / 8 * (c1 - c0))) <= 1
