"""Image data (UCI digits, MNIST from the user's files), the dimension-free core on images,
the conv energy, the digit classifier and AIS."""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pytest
import torch

from ebm_studio.core.config import Config
from ebm_studio.core.datasets import DataError, load_digits, load_mnist
from ebm_studio.core.models import ConvEnergy, EnergyMLP
from ebm_studio.core.samplers import ChainStarts, Sampler


def idx_bytes(images: np.ndarray, magic: int = 0x803) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", magic, n, h, w) + images.astype(np.uint8).tobytes()


def some_images(n=6, side=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side), dtype=np.uint8)


def test_digits_ship_with_the_package_scaled_to_unit_range():
    ds = load_digits()
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.dtype == torch.float32
    assert float(ds.images.min()) == -1.0 and float(ds.images.max()) == 1.0
    assert sorted(set(ds.labels.tolist())) == list(range(10))


def test_mnist_idx_plain_gzip_and_npz_read_the_same_pixels(tmp_path):
    imgs = some_images()
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(imgs))
    (tmp_path / "b-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imgs)))
    np.savez(tmp_path / "c.npz", x_train=imgs, y_train=np.arange(6))
    want = torch.from_numpy(imgs.astype(np.float32) / 255 * 2 - 1)[:, None]
    for name in ("a-idx3-ubyte", "b-idx3-ubyte.gz", "c.npz"):
        ds = load_mnist(tmp_path / name)
        assert torch.allclose(ds.images, want), name
    assert load_mnist(tmp_path / "c.npz").labels.tolist() == list(range(6))
    small = load_mnist(tmp_path / "a-idx3-ubyte", downsample=True)
    assert small.images.shape == (6, 1, 14, 14)
    assert torch.allclose(small.images[0, 0, 0, 0], want[0, 0, :2, :2].mean())


@pytest.mark.parametrize(
    "kind, problem",
    [
        ("truncated", "truncated"),
        ("magic", "magic number"),
        ("shape", "shape"),
        ("text", "too short"),
        ("npz-none", "no image array"),
        ("bad-gzip", "gzip"),
    ],
)
def test_bad_mnist_files_are_refused_naming_file_and_problem(tmp_path, kind, problem):
    imgs = some_images()
    if kind == "truncated":
        p = tmp_path / "t-idx3-ubyte"
        p.write_bytes(idx_bytes(imgs)[:-100])
    elif kind == "magic":
        p = tmp_path / "t-idx1-ubyte"
        p.write_bytes(idx_bytes(imgs, magic=0x801))
    elif kind == "shape":
        p = tmp_path / "t.npz"
        np.savez(p, images=np.zeros((4, 3, 8, 8), np.uint8))
    elif kind == "text":
        p = tmp_path / "notes.txt"
        p.write_text("hello")
    elif kind == "npz-none":
        p = tmp_path / "t.npz"
        np.savez(p, labels=np.arange(3))
    else:
        p = tmp_path / "t-idx3-ubyte.gz"
        p.write_bytes(gzip.compress(idx_bytes(imgs))[:40])
    with pytest.raises(DataError) as e:
        load_mnist(p)
    msg = str(e.value)
    assert msg.startswith(p.name) and problem in msg and msg.count(". ") == 0


def test_models_accept_any_image_size():
    cfg = Config().model
    for shape in [(1, 8, 8), (1, 14, 14), (1, 28, 28), (3, 10, 6)]:
        x = torch.randn(5, *shape)
        conv = ConvEnergy(cfg, shape)
        assert conv(x).shape == (5,)
        assert EnergyMLP(cfg, shape)(x).shape == (5,)
    sn = Config().model.__class__(arch="conv", spectral_norm=True)
    assert ConvEnergy(sn, (1, 8, 8))(torch.randn(2, 1, 8, 8)).shape == (2,)


class Quadratic(torch.nn.Module):
    """E(x) = |x - m|^2 / (2 s^2) over any event shape: exact mean m and std s."""

    def __init__(self, m: float, s: float) -> None:
        super().__init__()
        self.m, self.s = m, s

    def forward(self, x):
        return ((x - self.m) ** 2).reshape(len(x), -1).sum(-1) / (2 * self.s**2)


@pytest.mark.parametrize("kind", ["langevin", "mala", "rwmh"])
def test_samplers_reach_a_known_gaussian_on_image_shaped_chains(kind):
    eta = 0.05 if kind != "rwmh" else 0.3
    cfg = Config().sampler.__class__(kind=kind, step_size=eta)
    s = Sampler(cfg, box=1.0)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.zeros(400, 1, 4, 4)
    x, stats = s.run(Quadratic(0.5, 0.3), x0, 300, gen)
    assert x.shape == x0.shape
    # 400 chains x 16 pixels: the sample mean's standard error is 0.3 / 80 = 0.004.
    assert abs(float(x.mean()) - 0.5) < 0.03
    # ULA's stationary variance on this Gaussian is 2 eta / (1 - (1 - eta / s^2)^2) (0.353^2
    # here, not 0.3^2); the Metropolis-corrected samplers are exact. 6400 correlated values:
    # a few % sampling error.
    a = 1 / 0.3**2
    want = math.sqrt(2 * eta / (1 - (1 - eta * a) ** 2)) if kind == "langevin" else 0.3
    assert abs(float(x.std()) - want) < 0.02
    if kind != "langevin":
        assert 0.05 < stats.acceptance < 1.0


def test_chain_starts_draw_noise_and_data_of_the_data_shape():
    data = load_digits().images[:100]
    gen = torch.Generator().manual_seed(0)
    cfg = Config().buffer.__class__(size=50, p_noise=0.5, p_data=0.5)
    starts = ChainStarts("buffer", cfg, 1.0, data, gen)
    assert starts.bank.shape == (50, 1, 8, 8)
    x, info = starts.draw(20, data[:20], gen)
    assert x.shape == (20, 1, 8, 8)
    assert x.abs().max() <= 1.0
    starts.write_back(x + 0.0, info)


def test_augmentations_that_need_points_refuse_images_with_one_sentence():
    cfg = Config().sampler.__class__(augment="rotation", augment_every=1)
    s = Sampler(cfg, 1.0)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="rotation.*2D points.*'jump'"):
        s.run(Quadratic(0.0, 1.0), torch.zeros(4, 1, 8, 8), 2, gen)


def test_exact_grid_is_2d_only_and_says_so(digits_trainer):
    with pytest.raises(ValueError, match="2D-only"):
        digits_trainer.energy_grid(32)
    assert digits_trainer.snapshot().energy is None


@pytest.fixture(scope="module")
def digits_trainer():
    from ebm_studio.core.trainer import Trainer

    cfg = Config()
    for k, v in {
        "data.name": "digits",
        "data.n_train": 300,
        "data.n_test": 100,
        "model.input_scale": 1.0,
        "model.width": 32,
        "model.depth": 1,
        "sampler.steps": 3,
        "sampler.n_chains": 16,
        "train.batch_size": 16,
        "buffer.size": 64,
        "train.eval_every": 2,
    }.items():
        cfg = cfg.with_value(k, v)
    return Trainer(cfg)


@pytest.mark.parametrize(
    "settings",
    [
        {"objective.name": "mcmc", "objective.kl_weight": 1.0, "objective.ent_weight": 0.1},
        {"objective.name": "mcmc", "sampler.kind": "mala", "model.arch": "conv"},
        {"objective.name": "nce"},
        {"objective.name": "dsm"},
        {"objective.name": "ssm"},
        {"objective.name": "snl", "objective.proposal": "gaussian"},
    ],
)
def test_objectives_train_on_digits(digits_trainer, settings):
    from ebm_studio.core.trainer import Trainer

    cfg = digits_trainer.config
    for k, v in settings.items():
        cfg = cfg.with_value(k, v)
    t = Trainer(cfg)
    t.train(2)
    row = t.history[-1]
    assert math.isfinite(row["loss"]) and "e_test" in row and "kl" not in row


def test_flow_objectives_refuse_images(digits_trainer):
    from ebm_studio.core.trainer import Trainer

    with pytest.raises(ValueError, match="2D"):
        Trainer(digits_trainer.config.with_value("objective.name", "fce"))


def test_nn_entropy_matches_a_gaussian_in_16_dimensions():
    from ebm_studio.core.objectives.mcmc import nn_entropy

    g = torch.Generator().manual_seed(0)
    d, s = 16, 0.5
    x = s * torch.randn(2000, 1, 4, 4, generator=g)
    ref = s * torch.randn(4000, 1, 4, 4, generator=g)
    want = 0.5 * d * math.log(2 * math.pi * math.e * s**2)
    # Kozachenko-Leonenko is consistent but its 16-D bias at a few thousand points is a few
    # tenths of a nat (measured 0.2-0.5 over seeds); a wrong dimension term is off by >10.
    assert abs(float(nn_entropy(x, ref)) - want) < 1.5


class DiagGaussian(torch.nn.Module):
    """E(x) = sum_i (x_i - m_i)^2 / (2 s_i^2) over (8, 8) images; log Z = 32 log(2 pi) +
    sum_i log s_i in closed form."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.m = 0.5 * torch.randn(1, 8, 8, generator=g)
        self.s = 0.5 + 1.0 * torch.rand(1, 8, 8, generator=g)
        self.log_z = 32 * math.log(2 * math.pi) + float(torch.log(self.s).sum())

    def forward(self, x):
        return (((x - self.m) / self.s) ** 2).reshape(len(x), -1).sum(-1) / 2


def test_ais_recovers_the_log_normaliser_of_a_64_dim_gaussian_within_3_se():
    from ebm_studio.core.ais import ais_log_z, heldout_log_likelihood

    e = DiagGaussian()
    res = ais_log_z(e, (1, 8, 8), torch.Generator().manual_seed(0), n_chains=128, n_temps=100)
    # The standard error must be informative (a uselessly wide one would pass anything).
    assert 0 < res.se < 0.5
    assert abs(res.log_z - e.log_z) < 3 * res.se
    # Held-out log-likelihood of exact samples: -E - log Z, whose mean is -32 (64 dims x 1/2).
    x = e.m + e.s * torch.randn(500, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    ll, se = heldout_log_likelihood(e, x, res)
    want = -0.5 * 64 - e.log_z
    assert abs(ll - want) < 3 * se + 0.5  # 0.5: the sample's E mean varies by ~0.3 at n=500


def test_elastic_transition_deforms_digits_smoothly_and_keeps_the_identity_on_average():
    from ebm_studio.core.samplers import augment_transform

    x = load_digits().images[:200]
    gen = torch.Generator().manual_seed(0)
    y = augment_transform("elastic", x, gen, 1.0)
    assert y.shape == x.shape and y.abs().max() <= 1.0
    moved = (y - x).abs().reshape(200, -1).mean(1)
    assert (moved > 0.02).float().mean() > 0.9  # nearly every image changes
    # A smooth warp of at most a pixel or two keeps a digit close to itself, far closer than
    # to another image.
    other = (x.roll(1, 0) - x).abs().reshape(200, -1).mean(1)
    assert float(moved.mean()) < 0.5 * float(other.mean())
    with pytest.raises(ValueError, match="elastic.*images"):
        augment_transform("elastic", torch.zeros(4, 2), gen, 1.0)


def test_cli_sample_writes_raw_chains_in_2d_and_image_mode(tmp_path, digits_trainer):
    from ebm_studio.cli import main
    from ebm_studio.core.checkpoint import save_checkpoint
    from ebm_studio.core.trainer import Trainer

    two_d = Config()
    for k, v in {"data.n_train": 200, "data.n_test": 100, "sampler.n_chains": 16}.items():
        two_d = two_d.with_value(k, v)
    runs = {"2d": (Trainer(two_d), (2,)), "img": (digits_trainer, (1, 8, 8))}
    for name, (t, shape) in runs.items():
        t.train(1)
        ckpt = tmp_path / f"{name}.safetensors"
        save_checkpoint(t, ckpt)
        for start in ("noise", "data", "buffer"):
            out = tmp_path / f"{name}-{start}.npy"
            args = ["sample", str(ckpt), "--chains", "10", "--steps", "2", "--start", start]
            assert main([*args, "--out", str(out)]) == 0
            x = np.load(out, allow_pickle=False)
            assert x.shape == (10, *shape) and x.dtype == np.float32 and np.isfinite(x).all()
    assert main(["sample", str(ckpt), "--out", str(tmp_path / "c.txt")]) == 2


def test_an_mnist_checkpoint_restores_without_the_users_file(tmp_path):
    from ebm_studio.core.checkpoint import restore_trainer, save_checkpoint
    from ebm_studio.core.trainer import Trainer

    src = tmp_path / "train-images-idx3-ubyte"
    src.write_bytes(idx_bytes(some_images(n=200, side=28)))
    cfg = Config()
    for k, v in {
        "data.name": "mnist",
        "data.path": str(src),
        "data.downsample": True,
        "data.n_test": 100,
        "model.arch": "conv",
        "model.channels": 4,
        "sampler.steps": 2,
        "sampler.n_chains": 8,
        "train.batch_size": 8,
        "buffer.size": 16,
    }.items():
        cfg = cfg.with_value(k, v)
    t = Trainer(cfg)
    assert t.train_x.shape[1:] == (1, 14, 14) and len(t.test_x) == 50  # a quarter at most
    t.train(2)
    save_checkpoint(t, tmp_path / "c.safetensors")
    src.unlink()
    r = restore_trainer(tmp_path / "c.safetensors")
    assert torch.equal(r.train_x, t.train_x) and r.step_count == 2
    x = torch.zeros(3, 1, 14, 14)
    assert torch.allclose(r.model(x), t.model(x))
