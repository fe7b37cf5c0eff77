"""A hand-written input gradient for the MLP energy: the sampler's hot loop.

Autograd builds a graph and computes gradients it does not need at every Langevin step. For a
fixed network, E(x) and dE/dx need one forward pass that keeps the pre-activations and one
backward pass through the transposed weights — the same arithmetic, without the bookkeeping.
Weights are read once per sampler run (they do not change while chains move). The autograd path
in ``samplers.energy_and_grad`` stays the reference; tests check both give the same chains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _act_and_slope(name: str, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Activation a(h) and its derivative a'(h), sharing intermediate results."""
    if name == "silu":
        s = torch.sigmoid(h)
        a = h * s
        return a, s + a * (1 - s)  # s (1 + h (1 - s))
    if name == "softplus":
        return F.softplus(h), torch.sigmoid(h)
    if name == "tanh":
        t = torch.tanh(h)
        return t, 1 - t * t
    if name == "relu":
        return torch.relu(h), (h > 0).to(h.dtype)
    if name == "leakyrelu":
        pos = h > 0
        return torch.where(pos, h, 0.2 * h), torch.where(pos, 1.0, 0.2).to(h.dtype)
    if name == "elu":
        e = torch.expm1(h.clamp_max(0))
        pos = h > 0
        return torch.where(pos, h, e), torch.where(pos, torch.ones_like(h), e + 1)
    raise ValueError(name)


_ACT_NAMES = {
    nn.SiLU: "silu",
    nn.Softplus: "softplus",
    nn.Tanh: "tanh",
    nn.ReLU: "relu",
    nn.LeakyReLU: "leakyrelu",
    nn.ELU: "elu",
}


class FastMLPEnergy:
    """E and dE/dx of a frozen ``EnergyMLP`` without autograd."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], act: str) -> None:
        self.layers = layers  # (W, b) per Linear, W of shape (out, in)
        self.act = act
        self.w_t = [w.t().contiguous() for w, _ in layers]  # (in, out), for the forward pass

    @classmethod
    def from_module(cls, model: nn.Module) -> FastMLPEnergy | None:
        """Build from an ``EnergyMLP``; None for anything else (the caller uses autograd)."""
        net = getattr(model, "net", None)
        if not isinstance(net, nn.Sequential):
            return None
        layers, acts = [], set()
        for m in net:
            if isinstance(m, nn.Linear):
                layers.append((m.weight.detach(), m.bias.detach()))
            elif type(m) in _ACT_NAMES:
                if isinstance(m, nn.LeakyReLU) and m.negative_slope != 0.2:
                    return None
                acts.add(_ACT_NAMES[type(m)])
            else:
                return None
        if len(acts) != 1 or len(layers) < 2 or layers[-1][0].shape[0] != 1:
            return None
        # Fold the input scale into the first layer: W (s x) = (s W) x.
        w0, b0 = layers[0]
        layers[0] = (w0 * float(getattr(model, "input_scale", 1.0)), b0)
        return cls(layers, acts.pop())

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a = x
        for (_, b), wt in zip(self.layers[:-1], self.w_t[:-1]):
            a, _ = _act_and_slope(self.act, torch.addmm(b, a, wt))
        w, b = self.layers[-1]
        return torch.addmm(b, a, self.w_t[-1]).squeeze(-1)

    @torch.no_grad()
    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slopes = []
        a = x
        for (_, b), wt in zip(self.layers[:-1], self.w_t[:-1]):
            a, s = _act_and_slope(self.act, torch.addmm(b, a, wt))
            slopes.append(s)
        w_out, b_out = self.layers[-1]
        e = torch.addmm(b_out, a, self.w_t[-1]).squeeze(-1)
        d = slopes[-1] * w_out  # (N, width) * (1, width)
        for (w, _), s in zip(reversed(self.layers[1:-1]), reversed(slopes[:-1])):
            d = torch.mm(d, w).mul_(s)
        return e, torch.mm(d, self.layers[0][0])
