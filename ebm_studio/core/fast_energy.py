"""A hand-written input gradient for the MLP energy: the sampler's hot loop.

Autograd builds a graph and computes gradients it does not need at every Langevin step. For a
fixed network, E(x) and dE/dx need one forward pass that keeps the pre-activations and one
backward pass through the transposed weights — the same arithmetic, without the bookkeeping.
Weights are read once per sampler run (they do not change while chains move). The autograd path
in ``samplers.energy_and_grad`` stays the reference; tests check both give the same chains.

``langevin_step`` writes one whole ULA step (move, then E and dE/dx at the new point) as a
function of tensors only. Run eagerly it is the fallback; ``compiled_langevin_step`` hands the
same function to ``torch.compile``, which fuses the element-wise work (activations and their
derivatives, the update, the statistics) into a few loops around the matrix products. Compiling
happens on first use (seconds to a minute on a 2-core CPU); if it fails for any reason (no C++
compiler, an unsupported platform), the eager function is used from then on.
"""

from __future__ import annotations

import logging
import threading

import torch
import torch.nn.functional as F
from torch import nn

_aten = torch.ops.aten


def _act_backward(name: str, grad: torch.Tensor, h: torch.Tensor, a: torch.Tensor):
    """grad * a'(h) in one fused pass: the kernels autograd itself uses for these layers
    (``h`` the pre-activation, ``a`` = act(h), whichever the kernel wants)."""
    if name == "silu":
        return _aten.silu_backward(grad, h)
    if name == "softplus":
        return _aten.softplus_backward(grad, h, 1.0, 20.0)  # nn.Softplus defaults
    if name == "tanh":
        return _aten.tanh_backward(grad, a)
    if name == "relu":
        return _aten.threshold_backward(grad, a, 0.0)
    if name == "leakyrelu":
        return _aten.leaky_relu_backward(grad, h, 0.2, False)
    if name == "elu":
        return _aten.elu_backward(grad, 1.0, 1, 1, False, h)
    raise ValueError(name)


def _act(name: str, h: torch.Tensor) -> torch.Tensor:
    """Activation only (forward passes: grid evaluation, energies without gradients)."""
    if name == "silu":
        return F.silu(h)
    if name == "softplus":
        return F.softplus(h)
    if name == "tanh":
        return torch.tanh(h)
    if name == "relu":
        return torch.relu(h)
    if name == "leakyrelu":
        return F.leaky_relu(h, 0.2)
    if name == "elu":
        return F.elu(h)
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
        """E(x) only (grids, energies of proposals)."""
        post = _ONEDNN_POST.get(self.act)
        if post is not None and _onednn_usable(x):
            try:
                a = x
                for w, b in zip(self.weights[:-1], self.biases[:-1]):
                    a = torch.ops.mkldnn._linear_pointwise(a, w, b, post[0], post[1], "")
                return torch.addmm(self.biases[-1], a, self.w_t[-1]).squeeze(-1)
            except (RuntimeError, AttributeError) as exc:  # an op this build lacks
                _onednn_failed(exc)
        a = x
        for (_, b), wt in zip(self.layers[:-1], self.w_t[:-1]):
            a = _act(self.act, torch.addmm(b, a, wt))
        return torch.addmm(self.layers[-1][1], a, self.w_t[-1]).squeeze(-1)

    @torch.no_grad()
    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _energy_and_grad(x, self.act, self.weights, self.biases, self.w_t)

    @property
    def weights(self) -> list[torch.Tensor]:
        return [w for w, _ in self.layers]

    @property
    def biases(self) -> list[torch.Tensor]:
        return [b for _, b in self.layers]


# oneDNN's linear layer with the activation fused into the matrix product's epilogue (the
# kernel Inductor itself uses on CPU): the forward pass without a separate bias+activation pass
# over every hidden layer, ~25% faster grid evaluation on a 2-core CPU. Activations it has.
_ONEDNN_POST = {
    "silu": ("swish", []),
    "tanh": ("tanh", []),
    "relu": ("relu", []),
    "leakyrelu": ("leaky_relu", [0.2]),
}
_onednn_ok = True


def _onednn_usable(x: torch.Tensor) -> bool:
    return (
        _onednn_ok
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
    )


def _onednn_failed(exc: BaseException) -> None:
    global _onednn_ok
    _onednn_ok = False
    logging.getLogger(__name__).info("oneDNN fused linear unavailable: %s", str(exc)[:200])


def _energy_and_grad(
    x: torch.Tensor,
    act: str,
    ws: list[torch.Tensor],
    bs: list[torch.Tensor],
    wts: list[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """E(x) and dE/dx: forward keeping pre-activations, then back through W^T."""
    hs, acts = [], []
    a = x
    for b, wt in zip(bs[:-1], wts[:-1]):
        h = torch.addmm(b, a, wt)
        a = _act(act, h)
        hs.append(h)
        acts.append(a)
    e = torch.addmm(bs[-1], a, wts[-1]).squeeze(-1)
    d = ws[-1].expand_as(a)  # dE/da of the last hidden layer: the output weights
    for i in range(len(hs) - 1, -1, -1):
        d = _act_backward(act, d, hs[i], acts[i])
        d = torch.mm(d, ws[i])
    return e, d


def langevin_step(
    x: torch.Tensor,
    g: torch.Tensor,
    noise: torch.Tensor,
    eta: torch.Tensor,
    sigma: torch.Tensor,
    box: torch.Tensor,
    gclamp: torch.Tensor,
    ws: list[torch.Tensor],
    bs: list[torch.Tensor],
    wts: list[torch.Tensor],
    act: str,
    clamp_box: bool,
    clamp_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """x' = x - eta clamp(g) + sigma noise (clamped to the box when asked), then E(x'), dE/dx'
    and the step's statistics (sum of E', sum of |dE/dx'|). Scalars are 0-d tensors so that a
    live change of step size or noise does not recompile."""
    if clamp_grad:
        g = torch.clamp(g, -gclamp, gclamp)
    x = x - eta * g + sigma * noise
    if clamp_box:
        x = torch.clamp(x, -box, box)
    e, g = _energy_and_grad(x, act, ws, bs, wts)
    return x, e, g, e.sum(), g.norm(dim=-1).sum()


log = logging.getLogger(__name__)
_compiled = None
_compile_failed = False
_lock = threading.Lock()


def compiled_langevin_step():
    """``torch.compile(langevin_step)``, built once per process; None when compilation is not
    available here (the caller then runs ``langevin_step`` eagerly)."""
    global _compiled
    if _compile_failed:
        return None
    with _lock:
        if _compiled is None:
            try:
                _compiled = torch.compile(langevin_step, dynamic=True, fullgraph=True)
            except Exception as exc:  # torch.compile unsupported on this platform
                compile_failed(exc)
                return None
    return _compiled


def compile_failed(exc: BaseException) -> None:
    """Remember that compiling failed (once per process) and say why, once."""
    global _compile_failed
    if not _compile_failed:
        log.warning("compiled sampler step unavailable, using eager: %s", str(exc)[:300])
    _compile_failed = True


def compile_available() -> bool:
    return not _compile_failed
