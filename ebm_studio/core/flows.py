"""A small RealNVP normalising flow: the learned noise of FCE and a proposal for SNL.

The flow maps a standard normal ``z`` to ``x`` through affine couplings (Dinh et al. 2017)
followed by a fixed affine map ``x = mean + L u`` (``L L^T = cov``), so an untrained flow (the
couplings start as the identity) is exactly the Gaussian fitted to the data. In 2D each
coupling rescales and shifts one coordinate conditioned on the other; the masks alternate.
Scales are ``s_max * tanh(.)``: bounded log-scales keep the log-determinant finite and the
adversarial FCE updates from blowing a coupling up.

``log_prob`` is exact (change of variables); ``sample`` takes every random draw from the
``torch.Generator`` passed in.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .objectives.base import Context

LOG_2PI = math.log(2 * math.pi)


class AffineCoupling(nn.Module):
    """``y_b = x_b * exp(s(x_a)) + t(x_a)``, ``y_a = x_a`` with ``a = dim``, ``b = 1 - dim``."""

    def __init__(self, dim: int, hidden: int = 64, s_max: float = 2.0) -> None:
        super().__init__()
        self.a, self.b = dim, 1 - dim
        self.s_max = s_max
        self.net = nn.Sequential(
            nn.Linear(1, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, 2),
        )
        # Zero last layer: the coupling starts as the identity, the flow as its base Gaussian.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _st(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(xa[:, None])
        return self.s_max * torch.tanh(h[:, 0] / self.s_max), h[:, 1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent -> data direction; returns (y, log|det dy/dx|)."""
        s, t = self._st(x[:, self.a])
        yb = x[:, self.b] * torch.exp(s) + t
        y = torch.stack([x[:, 0], yb] if self.a == 0 else [yb, x[:, 1]], 1)
        return y, s

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> latent direction; returns (x, log|det dx/dy|)."""
        s, t = self._st(y[:, self.a])
        xb = (y[:, self.b] - t) * torch.exp(-s)
        x = torch.stack([y[:, 0], xb] if self.a == 0 else [xb, y[:, 1]], 1)
        return x, -s


class RealNVP(nn.Module):
    """``layers`` affine couplings on top of a Gaussian base fitted to the data's mean/cov."""

    def __init__(self, layers: int = 6, hidden: int = 64, s_max: float = 2.0) -> None:
        super().__init__()
        self.couplings = nn.ModuleList(AffineCoupling(i % 2, hidden, s_max) for i in range(layers))
        self.register_buffer("mean", torch.zeros(2))
        self.register_buffer("chol", torch.eye(2))

    def fit_base(self, mean: torch.Tensor, cov: torch.Tensor) -> RealNVP:
        """Set the fixed affine map so the identity flow is N(mean, cov)."""
        self.mean.copy_(mean.detach().to(self.mean))
        self.chol.copy_(torch.linalg.cholesky(cov.detach().double()).to(self.chol))
        return self

    def _log_det_chol(self) -> torch.Tensor:
        return torch.log(torch.diagonal(self.chol).abs()).sum()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log q(x) for x of shape (N, 2)."""
        u = torch.linalg.solve_triangular(self.chol, (x - self.mean).T, upper=False).T
        log_det = -self._log_det_chol().expand(len(x))
        for c in reversed(self.couplings):
            u, ld = c.inverse(u)
            log_det = log_det + ld
        return -0.5 * (u**2).sum(-1) - LOG_2PI + log_det

    def sample_with_log_prob(
        self, n: int, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples and their exact log q, differentiable in the flow's parameters
        (reparameterised: the FCE flow update backpropagates through the samples)."""
        z = torch.randn(n, 2, generator=gen, device=self.mean.device, dtype=self.mean.dtype)
        log_q = -0.5 * (z**2).sum(-1) - LOG_2PI
        u = z
        for c in self.couplings:
            u, ld = c(u)
            log_q = log_q - ld
        x = self.mean + u @ self.chol.T
        return x, log_q - self._log_det_chol()

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.sample_with_log_prob(n, gen)[0]

    def pretrain(
        self,
        data: torch.Tensor,
        steps: int,
        gen: torch.Generator,
        *,
        lr: float = 3e-3,
        batch: int = 256,
    ) -> float:
        """Maximum-likelihood fit to ``data`` by Adam (batches drawn with ``gen``); returns
        the last batch NLL (nats), or nan for ``steps == 0``."""
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        last = float("nan")
        with torch.enable_grad():  # callable from inside no_grad code (a lazily built proposal)
            for _ in range(steps):
                idx = torch.randint(len(data), (batch,), generator=gen, device=data.device)
                loss = -self.log_prob(data[idx]).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                last = loss.item()
        return last


def build_flow(
    layers: int,
    data: torch.Tensor,
    mean: torch.Tensor,
    cov: torch.Tensor,
    pretrain_steps: int,
    gen: torch.Generator,
) -> RealNVP:
    """A flow on ``data``'s device with its base fitted to (mean, cov), ML-pretrained."""
    with torch.random.fork_rng(devices=[]):
        # The coupling weights' seed is drawn from the run's generator, inside a forked global
        # RNG: reproducible from the run's seed, and the global RNG is left untouched.
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen, device=gen.device)))
        flow = RealNVP(layers).to(data.device)
    flow.fit_base(mean, cov)
    flow.pretrain(data, pretrain_steps, gen)
    return flow


def shared_flow(ctx: Context, layers: int, pretrain_steps: int) -> RealNVP:
    """The run's one flow (FCE's noise, SNL's "flow" proposal), created and ML-pretrained on
    first use. It lives on the objectives' Context so switching between FCE and SNL keeps it;
    a different number of coupling layers replaces it."""
    if tuple(ctx.data.shape[1:]) != (2,):
        raise ValueError(
            f"the RealNVP flow (FCE noise, SNL 'flow' proposal) is 2D; data of shape "
            f"{tuple(ctx.data.shape[1:])} needs NCE/SNL with a 'gaussian' noise or proposal"
        )
    flow = ctx.flow
    if not isinstance(flow, RealNVP) or len(flow.couplings) != layers:
        steps = pretrain_steps if ctx.pretrain else 0
        flow = build_flow(layers, ctx.data, ctx.data_mean, ctx.data_cov, steps, ctx.gen)
        ctx.flow = flow
    return flow


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter state as flat tensors (safetensors holds tensors only)."""
    out: dict[str, torch.Tensor] = {}
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return out


def load_optimizer_tensors(
    opt: torch.optim.Optimizer, prefix: str, d: dict[str, torch.Tensor], device: torch.device
) -> None:
    """Inverse of ``optimizer_tensors``."""
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    pre = prefix + "."
    for k, v in d.items():
        if k.startswith(pre):
            pid, key = k[len(pre) :].split(".", 1)
            # Adam keeps 'step' on the CPU unless capturable; the moments live with the params.
            state.setdefault(int(pid), {})[key] = (
                v.clone() if key == "step" else v.to(device).clone()
            )
    sd["state"] = state
    opt.load_state_dict(sd)


__all__ = [
    "AffineCoupling",
    "RealNVP",
    "build_flow",
    "shared_flow",
    "optimizer_tensors",
    "load_optimizer_tensors",
]
