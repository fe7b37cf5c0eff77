"""Datasets: exact densities against samples and exact quantities; CSV and image loading."""

from __future__ import annotations

import functools
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ebm_studio.core.config import ConfigError, DataConfig
from ebm_studio.core.datasets import (
    DataError,
    ImageDataset,
    PointsDataset,
    curves,
    load_csv_points,
    make_dataset,
)
from ebm_studio.core.datasets.points import scan_csv

BUILTINS = (
    "8gaussians",
    "25gaussians",
    "rings",
    "checkerboard",
    "moons",
    "spirals",
    "pinwheel",
    "swissroll",
)
BOX = 4.5  # DataConfig default
GRID = 200  # density sub-grid per axis: 4 x 4 points per histogram cell
CELLS = 50  # histogram cells per axis
N_SAMPLES = 100_000
# Allowed excess of the sample-vs-density total variation over its pure sampling noise (the
# mean TV of exact multinomial draws from the same cell probabilities, about 0.02-0.04 here
# with a spread of 0.001). 0.008 is 8 spreads: a deterministic seeded test cannot flake, and
# a 5% error in one std is still caught (see test_tv_bound_is_discriminative).
TV_MARGIN = 0.008


def midpoints(box: float, res: int) -> torch.Tensor:
    h = 2 * box / res
    return -box + (torch.arange(res, dtype=torch.float64) + 0.5) * h


def grid_points(box: float, res: int) -> torch.Tensor:
    """Cell midpoints, row-major with rows following y."""
    c = midpoints(box, res)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


@functools.cache
def log_density_grid(name: str) -> np.ndarray:
    """log_prob at GRID x GRID cell midpoints of the default box, [y, x]."""
    ds = make_dataset(DataConfig(name=name))
    return ds.log_prob(grid_points(BOX, GRID)).reshape(GRID, GRID).numpy()


def density_grid(name: str) -> np.ndarray:
    return np.exp(log_density_grid(name))


def checkerboard_cell_masses(edges: np.ndarray) -> np.ndarray:
    """Exact mass of each [y, x] cell: overlap area with the 8 squares, times 1/32."""
    lo, hi = edges[:-1], edges[1:]
    mass = np.zeros((len(lo), len(lo)))
    for i in range(4):
        for j in range(4):
            if (i + j) % 2:
                continue
            ox = np.clip(np.minimum(hi, -4 + 2 * i + 2) - np.maximum(lo, -4 + 2 * i), 0, None)
            oy = np.clip(np.minimum(hi, -4 + 2 * j + 2) - np.maximum(lo, -4 + 2 * j), 0, None)
            mass += np.outer(oy, ox) / 32
    return mass


@functools.cache
def cell_masses(name: str) -> np.ndarray:
    """Probability of each of the CELLS x CELLS histogram cells, [y, x]."""
    if name == "checkerboard":  # discontinuous: a sub-grid would misjudge the edge cells
        return checkerboard_cell_masses(np.linspace(-BOX, BOX, CELLS + 1))
    k = GRID // CELLS
    area = (2 * BOX / GRID) ** 2
    return (density_grid(name) * area).reshape(CELLS, k, CELLS, k).sum(axis=(1, 3))


def histogram(x: torch.Tensor) -> np.ndarray:
    p = x.double().numpy()
    h, _, _ = np.histogram2d(p[:, 1], p[:, 0], bins=CELLS, range=[[-BOX, BOX]] * 2)
    return h / len(p)


def tv_bound(masses: np.ndarray) -> float:
    """Mean TV of exact multinomial samples (sampling noise) plus TV_MARGIN."""
    p = (masses / masses.sum()).ravel()
    rng = np.random.default_rng(0)
    null = [0.5 * np.abs(rng.multinomial(N_SAMPLES, p) / N_SAMPLES - p).sum() for _ in range(50)]
    return float(np.mean(null)) + TV_MARGIN


def draw(name: str, seed: int = 1, n: int = N_SAMPLES, **cfg: float) -> torch.Tensor:
    return make_dataset(DataConfig(name=name, **cfg)).sample(n, torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------- built-in densities


@pytest.mark.parametrize("name", [n for n in BUILTINS if n != "checkerboard"])
def test_density_integrates_to_one_in_the_box(name: str) -> None:
    # Every built-in keeps its mass in the default box at its default std (nothing leaves),
    # and the midpoint rule is spectrally accurate for these smooth densities.
    mass = density_grid(name).sum() * (2 * BOX / GRID) ** 2
    assert abs(mass - 1) < 1e-6


def test_checkerboard_integrates_to_one_on_an_aligned_grid() -> None:
    ds = make_dataset(DataConfig(name="checkerboard"))
    res = 180  # cell 0.05: the square edges -4, -2, 0, 2, 4 are cell edges
    mass = ds.log_prob(grid_points(BOX, res)).exp().sum() * (2 * BOX / res) ** 2
    assert abs(float(mass) - 1) < 1e-12


@pytest.mark.parametrize(("name", "std"), [("8gaussians", 0.7), ("rings", 0.2), ("moons", 0.5)])
def test_std_override_integrates_to_one(name: str, std: float) -> None:
    # A wide std pushes mass out of the 4.5 box, so integrate over a larger one. (Rings stay
    # at 0.2: with more, their integrable 1/|x| peak at the origin needs a polar grid.)
    ds = make_dataset(DataConfig(name=name, std=std))
    mass = ds.log_prob(grid_points(9.0, 240)).exp().sum() * (18.0 / 240) ** 2
    assert abs(float(mass) - 1) < 1e-6


def test_mixtures_match_torch_distributions() -> None:
    """An independent formula for the Gaussian mixtures (the documented defaults)."""
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
    means = 2 * torch.stack([angles.cos(), angles.sin()], dim=1)
    g = torch.linspace(-2, 2, 5, dtype=torch.float64)
    grid25 = torch.cartesian_prod(g, g)
    D = torch.distributions
    for name, mu, std in (("8gaussians", means, 0.2), ("25gaussians", grid25, 0.1)):
        ref = D.MixtureSameFamily(
            D.Categorical(torch.ones(len(mu), dtype=torch.float64)),
            D.Independent(D.Normal(mu, std), 1),
        )
        got = make_dataset(DataConfig(name=name)).log_prob(x)
        torch.testing.assert_close(got, ref.log_prob(x), rtol=1e-12, atol=1e-9)


def test_rings_radial_mass_matches_closed_form() -> None:
    """P(|x| < 1.5) and P(|x| < 2.5) from the density vs the radius law (mass ~ radius)."""
    d = density_grid("rings")
    pts = grid_points(BOX, GRID).numpy()
    rho = np.hypot(pts[:, 0], pts[:, 1]).reshape(GRID, GRID)
    area = (2 * BOX / GRID) ** 2
    w = np.array([1, 2, 3]) / 6
    for cut, expect in ((1.5, w[0]), (2.5, w[0] + w[1])):
        # the density is ~e^-12 near the cut radius, so the cells it splits do not matter
        assert abs(d[rho < cut].sum() * area - expect) < 1e-6


@pytest.mark.parametrize("name", ["moons", "spirals", "pinwheel", "swissroll"])
def test_curve_quadrature_has_converged(name: str) -> None:
    make = getattr(curves, name)
    uniform = 9 * torch.rand(1000, 2, generator=torch.Generator().manual_seed(0)) - 4.5
    x = torch.cat([draw(name, n=2000), uniform]).double()
    coarse, fine = make(BOX, None).log_prob(x), make(BOX, None, refine=3).log_prob(x)
    near = fine > fine.max() - 30  # where the density matters: within e^30 of its peak
    assert near.float().mean() > 0.6
    assert (coarse - fine)[near].abs().max() < 1e-6


@pytest.mark.parametrize("name", BUILTINS)
def test_samples_match_density(name: str) -> None:
    x = draw(name)
    assert x.shape == (N_SAMPLES, 2) and x.dtype == torch.float32
    assert (x.abs() <= BOX).all()  # no built-in puts mass outside the default box
    masses = cell_masses(name)
    tv = 0.5 * np.abs(histogram(x) - masses).sum()
    assert tv < tv_bound(masses), f"{name}: TV {tv:.4f}"


@pytest.mark.parametrize("name", BUILTINS)
def test_samples_have_the_exact_mean_log_density(name: str) -> None:
    """Mean log p(x) over samples vs the exact integral of p log p (minus the entropy).

    The 50 x 50 histogram cannot see a wrong noise width below its 0.18 cells; this can:
    samples with a 5% wider noise lower the mean by about 0.05 nats, ~10 standard errors.
    """
    ds = make_dataset(DataConfig(name=name))
    lp = ds.log_prob(draw(name, n=20_000).double())
    assert torch.isfinite(lp).all()  # every sample lies where the density is positive
    if name == "checkerboard":
        exact = -math.log(32)  # constant on the support
    else:
        grid = log_density_grid(name)
        exact = float((np.exp(grid) * grid).sum() * (2 * BOX / GRID) ** 2)
    se = float(lp.std()) / math.sqrt(len(lp))
    assert abs(float(lp.mean()) - exact) < 5 * se + 1e-12, (float(lp.mean()), exact, se)


def test_tv_bound_is_discriminative() -> None:
    masses = cell_masses("8gaussians")
    bound = tv_bound(masses)
    # wrong dataset
    assert 0.5 * np.abs(histogram(draw("8gaussians")) - cell_masses("rings")).sum() > bound
    # a 5% error in the std (0.21 instead of 0.2) is caught too
    assert 0.5 * np.abs(histogram(draw("8gaussians", std=0.21)) - masses).sum() > bound


@pytest.mark.parametrize("name", BUILTINS)
def test_sampling_is_deterministic_per_seed(name: str) -> None:
    a, b, c = draw(name, 7, 1000), draw(name, 7, 1000), draw(name, 8, 1000)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert draw(name, 7, 0).shape == (0, 2)


def test_log_prob_dtype_shape_and_support() -> None:
    ds = make_dataset(DataConfig(name="checkerboard"))
    x = torch.tensor([[-3.0, -3.0], [-1.0, -3.0], [5.0, 0.0], [0.5, 0.5]])
    lp = ds.log_prob(x)
    assert lp.dtype == torch.float32 and lp.shape == (4,)
    assert lp[0] == pytest.approx(-math.log(32)) and lp[3] == pytest.approx(-math.log(32))
    assert lp[1] == -math.inf and lp[2] == -math.inf
    assert make_dataset(DataConfig(name="moons")).log_prob(x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="shape"):
        ds.log_prob(torch.zeros(3))


def test_tiny_curve_std_is_refused_not_approximated() -> None:
    with pytest.raises(ConfigError, match="too small"):
        make_dataset(DataConfig(name="spirals", std=1e-4))


def test_thumbnails() -> None:
    for name in BUILTINS:
        t = make_dataset(DataConfig(name=name)).thumbnail(16)
        assert t.shape == (16, 16) and t.min() >= 0 and t.max() == 1
    # At an odd resolution a midpoint would sit on the rings' singular origin and outshine
    # the rings; the 2 x 2 sub-points avoid it.
    t = make_dataset(DataConfig(name="rings")).thumbnail(15)
    assert t[7, 7] < 1e-3 and (t > 0.2).sum() > 20


# ------------------------------------------------------------------------------- drawn points


def test_points_dataset() -> None:
    pts = np.array([[0.0, 0.0], [1.0, -1.0], [10.0, 2.0]])
    ds = make_dataset(DataConfig(name="drawn"), pts)
    assert not ds.has_density and ds.box == pytest.approx(11.0)
    x = ds.sample(3000, torch.Generator().manual_seed(0))
    assert {tuple(r) for r in x.tolist()} == {tuple(r) for r in pts.tolist()}
    with pytest.raises(NotImplementedError):
        ds.log_prob(x)
    assert ds.thumbnail(8).max() == 1
    assert make_dataset(DataConfig(name="drawn", box=2.0), pts[:2]).box == 2.0
    for bad in (None, np.empty((0, 2))):
        with pytest.raises(DataError, match="no points"):
            make_dataset(DataConfig(name="drawn"), bad)
    with pytest.raises(DataError, match="finite"):
        PointsDataset(np.array([[0.0, np.nan]]))


# ----------------------------------------------------------------------------------------- CSV


def write(tmp_path: Path, text: str, name: str = "points.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


@pytest.mark.parametrize(
    "text",
    [
        "1,2\n-3.5,4e-1\n",
        "x,y\n1,2\n-3.5,4e-1\n",
        "\ufeffx, y\r\n1 , 2\r\n\r\n-3.5,0.4\r\n",
        "1 2\n-3.5\t.4\n\n",
        "x;y\n1;2\n-3.5;0.4",
    ],
)
def test_csv_valid(tmp_path: Path, text: str) -> None:
    got = load_csv_points(write(tmp_path, text))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1, 2], [-3.5, 0.4]])


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("1,2\n3,4\n5,6,7\n", 3, "expected two numbers, got '5,6,7'"),
        ("x,y\n1,2\n\n3,a\n", 4, "expected two numbers, got '3,a'"),
        ("1,2\nnan,4\n", 2, "'nan' is not a finite number"),
        ("1,2\n3,-inf\n", 2, "'-inf' is not a finite number"),
        ("1,2\n3,1e400\n", 2, "'1e400' is not a finite number"),
        ("1,2\n3,2e6\n", 2, "2e6 exceeds 1e6 in magnitude; rescale the points"),
        ("1\n2\n3\n", 1, "expected two numbers, got '1'"),
        ("x,y\n1,2\n3\n", 3, "expected two numbers, got '3'"),
        ("x,y,z\n1,2\n", 1, "expected two numbers, got 'x,y,z'"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, text: str, line: int, what: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_csv_points(p)
    assert str(err.value) == f"{p} line {line}: {what}"


@pytest.mark.parametrize("text", ["", "\n\n  \n", "x,y\n", "x,y\n\n"])
def test_csv_without_points(tmp_path: Path, text: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(DataError, match="no points") as err:
        load_csv_points(p)
    assert str(p) in str(err.value)


def test_csv_unreadable(tmp_path: Path) -> None:
    for p in (tmp_path / "missing.csv", tmp_path):
        with pytest.raises(DataError, match="cannot read"):
            load_csv_points(p)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"1,2\n3,\xe94\n")
    with pytest.raises(DataError, match=r"latin1\.csv line 2: not UTF-8"):
        load_csv_points(bad)


def test_csv_million_rows(tmp_path: Path) -> None:
    block = np.random.default_rng(0).uniform(-4, 4, size=(1000, 2)).round(6)
    text = "".join(f"{a!r},{b!r}\n" for a, b in block.tolist())
    p = tmp_path / "big.csv"
    p.write_text("x,y\n" + text * 1000)
    got = load_csv_points(p)
    assert got.shape == (1_000_000, 2)
    np.testing.assert_array_equal(got, np.tile(block, (1000, 1)))


def test_make_dataset_from_csv(tmp_path: Path) -> None:
    p = write(tmp_path, "x,y\n1,2\n3,4\n")
    ds = make_dataset(DataConfig(name="csv", path=str(p)))
    assert ds.name == "csv" and not ds.has_density
    with pytest.raises(DataError, match="no file"):
        make_dataset(DataConfig(name="csv"))


_SEPARATORS = st.sampled_from([",", ";", " ", "\t", ", ", ",,"])
_FIELD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**7), 10**7).map(str),
    st.sampled_from(["nan", "inf", "-Infinity", "1e400", "1_0", "0x1", "", " ", "x", "1e", "."]),
    st.text(alphabet=",;. \t\r\n0123456789eE+-naifx#\"'", max_size=6),
)
_LINE = st.lists(_FIELD, min_size=0, max_size=3).flatmap(
    lambda fs: _SEPARATORS.map(lambda sep: sep.join(fs))
)
_CSV_TEXT = st.one_of(
    st.text(max_size=200),
    st.tuples(st.lists(_LINE, max_size=8), st.sampled_from(["\n", "\r\n", "\r"])).map(
        lambda t: t[1].join(t[0])
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_CSV_TEXT, raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_csv_arbitrary_text_parses_or_raises_data_error(
    tmp_path_factory: pytest.TempPathFactory, text: str, raw: bytes | None
) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "fuzz.csv"
    p.write_bytes(raw if raw is not None else text.encode("utf-8", "surrogatepass"))
    try:
        got = load_csv_points(p)
    except DataError as e:
        assert str(p) in str(e)
        return
    assert got.dtype == np.float64 and got.ndim == 2 and got.shape[1] == 2 and len(got) > 0
    assert np.isfinite(got).all() and (np.abs(got) <= 1e6).all()


@settings(max_examples=100, deadline=None)
@given(
    pts=st.lists(st.tuples(*[st.floats(-1e6, 1e6, allow_nan=False)] * 2), min_size=1, max_size=50),
    sep=st.sampled_from([",", ", ", ";", " ", "\t"]),
    header=st.booleans(),
)
def test_csv_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    pts: list[tuple[float, float]],
    sep: str,
    header: bool,
) -> None:
    p = tmp_path_factory.mktemp("rt") / "rt.csv"
    lines = ([f"x{sep}y"] if header else []) + [f"{a!r}{sep}{b!r}" for a, b in pts]
    p.write_text("\n".join(lines) + "\n")
    np.testing.assert_array_equal(load_csv_points(p), np.array(pts))
    # the chunked and the per-line paths agree with numpy's
    np.testing.assert_array_equal(scan_csv(str(p)), np.array(pts))
    np.testing.assert_array_equal(scan_csv(str(p), fast=False), np.array(pts))


# -------------------------------------------------------------------------------------- image

# 4 rows x 6 columns; row 0 is the top of the picture (y = +box).
PIXELS = np.array(
    [
        [255, 0, 0, 0, 0, 0],
        [0, 0, 100, 0, 0, 0],
        [0, 0, 0, 0, 0, 50],
        [0, 0, 0, 0, 0, 0],
    ],
    dtype=np.uint8,
)


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    p = tmp_path / "density.png"
    Image.fromarray(PIXELS).save(p)
    return p


def test_image_density_integrates_to_one(image_path: Path) -> None:
    ds = ImageDataset(image_path, box=2.0)
    # 4 x 4 sub-points per pixel: exact for a piecewise-constant density
    xs = midpoints(2.0, 6 * 4)
    ys = midpoints(2.0, 4 * 4)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    lp = ds.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1))
    mass = lp.exp().sum() * (4.0 / 24) * (4.0 / 16)
    assert abs(float(mass) - 1) < 1e-12
    outside = ds.log_prob(torch.tensor([[2.5, 0.0], [0.0, -2.01]]))
    assert (outside == -math.inf).all()
    # the brightest pixel is the top-left one: density 255/405 over a (4/6 x 1) pixel
    top_left = ds.log_prob(torch.tensor([[-1.9, 1.9], [-1.9, -1.9]], dtype=torch.float64))
    assert float(top_left[0]) == pytest.approx(math.log(255 / 405 / (4 / 6)))
    assert top_left[1] == -math.inf


def test_image_samples_land_in_bright_pixels(image_path: Path) -> None:
    ds = make_dataset(DataConfig(name="image", path=str(image_path), box=2.0))
    x = ds.sample(60_000, torch.Generator().manual_seed(0)).double()
    col = torch.floor((x[:, 0] + 2) / (4 / 6)).long()
    row = torch.floor((2 - x[:, 1]) / 1.0).long()
    counts = np.zeros_like(PIXELS, dtype=float)
    np.add.at(counts, (row.numpy(), col.numpy()), 1)
    assert counts[PIXELS == 0].sum() == 0
    assert torch.isfinite(ds.log_prob(x)).all()
    expect = PIXELS / PIXELS.sum() * len(x)
    sd = np.sqrt(expect)
    bright = PIXELS > 0
    assert (np.abs(counts - expect)[bright] < 5 * sd[bright]).all()


def test_image_thumbnail_has_lowest_y_in_row_zero(image_path: Path) -> None:
    t = ImageDataset(image_path).thumbnail(4)
    # the brightest pixel is the image's top-left: the thumbnail's last row, first column
    assert t[3, 0] == 1 and t[0].max() == 0


def test_image_alpha_and_16_bit(tmp_path: Path) -> None:
    rgba = np.full((2, 2, 4), 255, dtype=np.uint8)
    rgba[:, 0, 3] = 0  # left column transparent: no density there
    Image.fromarray(rgba).save(tmp_path / "a.png")
    x = ImageDataset(tmp_path / "a.png").sample(1000, torch.Generator().manual_seed(0))
    assert (x[:, 0] >= 0).all()
    deep = Image.new("I;16", (2, 1))
    deep.putpixel((0, 0), 1000)
    deep.putpixel((1, 0), 3000)
    deep.save(tmp_path / "deep.png")
    ds = ImageDataset(tmp_path / "deep.png", box=1.0)
    lp = ds.log_prob(torch.tensor([[-0.5, 0.0], [0.5, 0.0]], dtype=torch.float64))
    assert float(lp[1] - lp[0]) == pytest.approx(math.log(3))


def test_huge_image_is_downsampled(tmp_path: Path) -> None:
    Image.new("L", (4100, 3), 200).save(tmp_path / "wide.png")
    ds = ImageDataset(tmp_path / "wide.png")
    assert ds.width == 2050 and ds.height == 2


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def test_bad_images_are_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "zero.png").write_bytes(png_header_only(0, 5))
    Image.new("L", (5, 5), 0).save(tmp_path / "black.png")
    Image.new("RGBA", (5, 5), (255, 255, 255, 0)).save(tmp_path / "clear.png")
    Image.new("L", (13, 13), 9).save(tmp_path / "bomb.png")
    for name in ("text.png", "empty.png", "zero.png", "black.png", "clear.png", "missing.png"):
        with pytest.raises(DataError) as err:
            ImageDataset(tmp_path / name)
        assert name in str(err.value)
    # Pillow's decompression-bomb warning is a refusal (limit lowered to keep the test small)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match="bomb.png"):
        ImageDataset(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="no file"):
        make_dataset(DataConfig(name="image"))
