"""Energy functions E(x) -> R. Low energy = likely.

``EnergyMLP`` is the trainable network (2D points, or any input flattened); ``ConvEnergy`` the
small convolutional energy for images. The analytic energies have known normalisers or exact
samplers, so samplers and grid metrics can be tested against ground truth.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig

_ACTIVATIONS = {
    "silu": nn.SiLU,
    "leakyrelu": lambda: nn.LeakyReLU(0.2),
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
}


class EnergyMLP(nn.Module):
    """MLP D -> width x depth -> 1 returning E(x) of shape (N,); inputs (N, *event_shape) are
    flattened (D = prod(event_shape), 2 in the studio's 2D mode)."""

    def __init__(self, cfg: ModelConfig, event_shape: tuple[int, ...] = (2,)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d_in = math.prod(event_shape)
        self.flat = tuple(event_shape) != (2,)
        for _ in range(cfg.depth):
            layers.append(_maybe_sn(nn.Linear(d_in, cfg.width), cfg.spectral_norm))
            layers.append(_ACTIVATIONS[cfg.activation]())
            d_in = cfg.width
        layers.append(_maybe_sn(nn.Linear(d_in, 1), cfg.spectral_norm))
        self.net = nn.Sequential(*layers)
        self.input_scale = cfg.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flat:
            x = x.reshape(len(x), -1)
        return self.net(x * self.input_scale).squeeze(-1)


def _maybe_sn(layer: nn.Module, on: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if on else layer


class ConvEnergy(nn.Module):
    """The small convolutional energy of Du & Mordatch 2019 ("Implicit generation and
    generalization in energy-based models"), sized for any image (C, H, W): three 3x3 conv
    layers (channels c, 2c, 4c; strides 1, 2, 2) and a 1x1 conv to 128 channels, averaged over
    the positions into a 128-vector, then two linear layers to the scalar E. SiLU (Swish)
    throughout; optional spectral normalisation of every layer."""

    def __init__(self, cfg: ModelConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(event_shape) != 3:
            raise ValueError(
                f"the conv energy needs images (C, H, W); data of shape {tuple(event_shape)} "
                "needs model.arch = 'mlp'"
            )
        c_in, c = event_shape[0], cfg.channels
        sn, act = cfg.spectral_norm, _ACTIVATIONS[cfg.activation]
        self.features = nn.Sequential(
            _maybe_sn(nn.Conv2d(c_in, c, 3, 1, 1), sn),
            act(),
            _maybe_sn(nn.Conv2d(c, 2 * c, 3, 2, 1), sn),
            act(),
            _maybe_sn(nn.Conv2d(2 * c, 4 * c, 3, 2, 1), sn),
            act(),
            _maybe_sn(nn.Conv2d(4 * c, 128, 1), sn),
            act(),
        )
        self.head = nn.Sequential(
            _maybe_sn(nn.Linear(128, 128), sn), act(), _maybe_sn(nn.Linear(128, 1), sn)
        )
        self.input_scale = cfg.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x * self.input_scale).mean(dim=(-2, -1))
        return self.head(h).squeeze(-1)


def build_model(cfg: ModelConfig, event_shape: tuple[int, ...] = (2,)) -> nn.Module:
    """The network ``cfg`` describes for data of ``event_shape``."""
    if cfg.arch == "conv":
        return ConvEnergy(cfg, event_shape)
    return EnergyMLP(cfg, event_shape)


# ---------------------------------------------------------------------------------------------
# Analytic energies (for tests and sampler demos). Each has ``energy(x)``; those with a known
# normaliser expose ``log_z`` and those with an exact sampler expose ``sample(n, gen)``.


class AnalyticEnergy(nn.Module):
    log_z: float | None = None

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no exact sampler")


class GaussianEnergy(AnalyticEnergy):
    """E(x) = 0.5 (x-m)^T S^-1 (x-m); Z = 2 pi sqrt(det S)."""

    def __init__(self, mean: tuple[float, float], cov: list[list[float]]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        c = torch.tensor(cov, dtype=torch.float64)
        self.register_buffer("prec", torch.linalg.inv(c).float())
        self.register_buffer("chol", torch.linalg.cholesky(c).float())
        self.log_z = math.log(2 * math.pi) + 0.5 * math.log(float(torch.linalg.det(c)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self.mean
        return 0.5 * ((d @ self.prec) * d).sum(-1)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, 2, generator=gen, device=self.mean.device)
        return self.mean + z @ self.chol.T


class GaussianMixtureEnergy(AnalyticEnergy):
    """Isotropic mixture; E = -log sum_k w_k N(x; m_k, s^2 I), so Z = 1 (log_z = 0)."""

    def __init__(self, means: list[tuple[float, float]], std: float, weights=None) -> None:
        super().__init__()
        k = len(means)
        w = torch.full((k,), 1.0 / k) if weights is None else torch.tensor(weights)
        self.register_buffer("means", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("logw", torch.log(w / w.sum()).float())
        self.std = std
        self.log_z = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        logn = -0.5 * d2 / self.std**2 - math.log(2 * math.pi * self.std**2)
        return -torch.logsumexp(logn + self.logw, dim=1)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        dev = self.means.device
        idx = torch.multinomial(self.logw.exp(), n, replacement=True, generator=gen)
        return self.means[idx] + self.std * torch.randn(n, 2, generator=gen, device=dev)


class BananaEnergy(AnalyticEnergy):
    """Twisted Gaussian: x1 ~ N(0, a^2), x2 | x1 ~ N(b (x1^2 - a^2), 1). Z = 2 pi a."""

    def __init__(self, a: float = 1.5, b: float = 0.3) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.log_z = math.log(2 * math.pi * a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return 0.5 * (x1 / self.a) ** 2 + 0.5 * (x2 - self.b * (x1**2 - self.a**2)) ** 2

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, 2, generator=gen)
        x1 = self.a * z[:, 0]
        return torch.stack([x1, z[:, 1] + self.b * (x1**2 - self.a**2)], 1)


class DonutEnergy(AnalyticEnergy):
    """E = (|x| - r)^2 / (2 s^2); Z by 1D quadrature over the radius."""

    def __init__(self, radius: float = 2.0, std: float = 0.3) -> None:
        super().__init__()
        self.r, self.s = radius, std
        rho = torch.linspace(0, radius + 12 * std, 200001, dtype=torch.float64)
        f = 2 * math.pi * rho * torch.exp(-((rho - radius) ** 2) / (2 * std**2))
        self.log_z = math.log(float(torch.trapezoid(f, rho)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.norm(dim=-1) - self.r) ** 2 / (2 * self.s**2)


class FunnelEnergy(AnalyticEnergy):
    """Neal's funnel in 2D: v ~ N(0, 3^2), x | v ~ N(0, exp(v)). Z = 1 (normalised)."""

    def __init__(self, scale: float = 3.0) -> None:
        super().__init__()
        self.scale = scale
        self.log_z = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, u = x[:, 0], x[:, 1]
        lv = -0.5 * (v / self.scale) ** 2 - math.log(self.scale * math.sqrt(2 * math.pi))
        lu = -0.5 * u**2 * torch.exp(-v) - 0.5 * v - 0.5 * math.log(2 * math.pi)
        return -(lv + lu)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, 2, generator=gen)
        v = self.scale * z[:, 0]
        return torch.stack([v, torch.exp(0.5 * v) * z[:, 1]], 1)


class DoubleWellEnergy(AnalyticEnergy):
    """E = h (x1^2 - 1)^2 + x2^2 / 2: two wells at x1 = +-1 separated by a barrier of height h."""

    def __init__(self, height: float = 4.0) -> None:
        super().__init__()
        self.h = height
        x1 = torch.linspace(-4, 4, 400001, dtype=torch.float64)
        z1 = torch.trapezoid(torch.exp(-height * (x1**2 - 1) ** 2), x1)
        self.log_z = math.log(float(z1)) + 0.5 * math.log(2 * math.pi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h * (x[:, 0] ** 2 - 1) ** 2 + 0.5 * x[:, 1] ** 2


ANALYTIC = {
    "gaussian": lambda: GaussianEnergy((0.5, -0.3), [[1.0, 0.6], [0.6, 0.8]]),
    "mixture": lambda: GaussianMixtureEnergy([(-2, -2), (-2, 2), (2, -2), (2, 2)], 0.5),
    "banana": BananaEnergy,
    "donut": DonutEnergy,
    "funnel": FunnelEnergy,
    "double-well": DoubleWellEnergy,
}
