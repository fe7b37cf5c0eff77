"""A hand-written input gradient for the MLP energy: the sampler's hot loop.

Autograd builds a graph and computes gradients it does not need at every Langevin step. For a
fixed network, E(x) and dE/dx need one forward pass that keeps the pre-activations and one
backward pass through the transposed weights — the same arithmetic, without the bookkeeping.
Weights are read once per sampler run (they do not change while chains move). The autograd path
in ``samplers.energy_and_grad`` stays the reference; tests check both give the same chains.

On the CPU the eager path writes the hidden layers into a ``Workspace`` of buffers reused from
step to step rather than into new tensors: a new tensor of a few MB is new memory from the
operating system each time, and its page faults cost a quarter of a step.

``langevin_step`` writes one whole ULA step (move, then E and dE/dx at the new point) as a
function of tensors only. Run eagerly (with a workspace) it is the default; with
``sampler.compile``, ``compiled_langevin_step`` hands the same function to ``torch.compile``,
which fuses the element-wise work around the matrix products. Compiling happens on first use
(seconds on a 2-core CPU); if it fails for any reason (no C++ compiler, an unsupported
platform), the eager function is used from then on.
"""

from __future__ import annotations

import logging
import threading

import torch
from torch import nn

_aten = torch.ops.aten


def _act(name: str, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """act(h), into ``out`` when given (``out`` may be ``h`` itself: element-wise, in place)."""
    op, args = _ACT[name]
    return op(h, *args) if out is None else op.out(h, *args, out=out)


def _act_backward(
    name: str, grad: torch.Tensor, h: torch.Tensor, a: torch.Tensor, out: torch.Tensor | None
) -> torch.Tensor:
    """grad * act'(h) in one fused pass: the kernels autograd itself uses for these layers
    (``h`` the pre-activation, ``a`` = act(h), whichever the kernel wants), into ``out`` when
    given (``out`` may be ``h``: element-wise, in place)."""
    op, args = _ACT_BACKWARD[name](h, a)
    return op(grad, *args) if out is None else op.grad_input(grad, *args, grad_input=out)


# Activation: (aten op, extra arguments). aten's relu is clamp_min(h, 0), which has an out=.
_ACT = {
    "silu": (_aten.silu, ()),
    "softplus": (_aten.softplus, (1.0, 20.0)),  # nn.Softplus defaults
    "tanh": (_aten.tanh, ()),
    "relu": (_aten.clamp_min, (0.0,)),
    "leakyrelu": (_aten.leaky_relu, (0.2,)),
    "elu": (_aten.elu, (1.0, 1, 1)),
}
# Activation: (h, act(h)) -> (backward aten op, its arguments after the incoming gradient).
_ACT_BACKWARD = {
    "silu": lambda h, a: (_aten.silu_backward, (h,)),
    "softplus": lambda h, a: (_aten.softplus_backward, (h, 1.0, 20.0)),
    "tanh": lambda h, a: (_aten.tanh_backward, (a,)),
    "relu": lambda h, a: (_aten.threshold_backward, (a, 0.0)),
    "leakyrelu": lambda h, a: (_aten.leaky_relu_backward, (h, 0.2, False)),
    "elu": lambda h, a: (_aten.elu_backward, (1.0, 1, 1, False, h)),
}


class Workspace:
    """Buffers for the hidden layers of one MLP on up to ``rows`` points, reused step after
    step by the eager CPU path.

    A new tensor of a few MB is new memory from the operating system each time (glibc returns
    large freed blocks), so every step paid page faults on first touch: a quarter of a
    4096-chain Langevin step on a 2-core CPU. Writing into the same buffers keeps them mapped
    and in cache. A block of fewer rows uses the buffers' first rows. Only the hidden layers
    live here; E and dE/dx, which callers keep, are always new tensors. CUDA needs none of
    this: its caching allocator already reuses memory.
    """

    def __init__(
        self, rows: int, widths: list[int], like: torch.Tensor, keep_activations: bool
    ) -> None:
        def buf(w: int) -> torch.Tensor:
            return torch.empty(rows, w, dtype=like.dtype, device=like.device)

        self.rows, self.widths, self.dtype = rows, list(widths), like.dtype
        self.keep_activations = keep_activations
        self.h = [buf(w) for w in widths]  # pre-activations, then grad * act' in place
        # Activations are kept per layer only for the backward kernels that read them (tanh,
        # relu). Otherwise each is dead once the next product has read it, and the gradients
        # w.r.t. activations likewise once the next backward kernel has: one scratch buffer per
        # width serves them all, and fewer buffers stay in cache (4 instead of 8 at depth 3).
        self.scratch = {w: buf(w) for w in dict.fromkeys(widths)}
        self.a = [buf(w) for w in widths] if keep_activations else None
        self._views: dict[int, dict[str, list[torch.Tensor]]] = {}

    def fits(self, x: torch.Tensor, widths: list[int], keep_activations: bool) -> bool:
        return (
            x.shape[0] <= self.rows
            and widths == self.widths
            and keep_activations <= self.keep_activations
            and x.dtype == self.dtype
            and x.device == self.h[0].device
        )

    def slot(self, kind: str, i: int, n: int) -> torch.Tensor:
        """The first ``n`` rows of the buffer for ``kind`` of layer ``i``: "h" (pre-activation),
        "a" (activation) or "d" (dE/d activation). Views are made once per block size: a step
        asks for them a dozen times."""
        views = self._views.get(n)
        if views is None:
            scratch = [self.scratch[w][:n] for w in self.widths]
            views = self._views[n] = {
                "h": [b[:n] for b in self.h],
                "a": scratch if self.a is None else [b[:n] for b in self.a],
                "d": scratch,
            }
        return views[kind][i]


# Backward kernels that read act(h) rather than h: their activations must be kept per layer.
_BACKWARD_READS_ACTIVATION = {"tanh", "relu"}


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
        self._buf: Workspace | None = None  # for __call__, block after block

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

    @property
    def widths(self) -> list[int]:
        return [w.shape[0] for w in self.weights[:-1]]

    def workspace(self, x: torch.Tensor, current: Workspace | None = None) -> Workspace | None:
        """Buffers for ``x``: ``current`` when it fits, new ones otherwise; None off the CPU."""
        if x.device.type != "cpu":
            return None
        keep = self.act in _BACKWARD_READS_ACTIVATION
        if current is not None and current.fits(x, self.widths, keep):
            return current
        return Workspace(x.shape[0], self.widths, x, keep)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) only (grids, energies of proposals). Called block by block (``eval_blocked``),
        so the hidden layers reuse this object's buffers: bias and matrix product into the
        buffer, the activation in place."""
        self._buf = buf = self.workspace(x, self._buf)
        a = x
        for i, (b, wt) in enumerate(zip(self.biases[:-1], self.w_t[:-1])):
            h = torch.addmm(b, a, wt, out=None if buf is None else buf.slot("h", i, x.shape[0]))
            a = _act(self.act, h, out=None if buf is None else h)
        return torch.addmm(self.biases[-1], a, self.w_t[-1]).squeeze(-1)

    @torch.no_grad()
    def energy_and_grad(
        self, x: torch.Tensor, buf: Workspace | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return _energy_and_grad(x, self.act, self.weights, self.biases, self.w_t, buf)

    @property
    def weights(self) -> list[torch.Tensor]:
        return [w for w, _ in self.layers]

    @property
    def biases(self) -> list[torch.Tensor]:
        return [b for _, b in self.layers]


def _energy_and_grad(
    x: torch.Tensor,
    act: str,
    ws: list[torch.Tensor],
    bs: list[torch.Tensor],
    wts: list[torch.Tensor],
    buf: Workspace | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """E(x) and dE/dx: forward keeping pre-activations, then back through W^T. With ``buf``
    the hidden layers are written into its buffers instead of new tensors."""
    n = x.shape[0]

    def slot(kind: str, i: int) -> torch.Tensor | None:
        return None if buf is None else buf.slot(kind, i, n)

    hs, acts = [], []
    a = x
    for i, (b, wt) in enumerate(zip(bs[:-1], wts[:-1])):
        h = torch.addmm(b, a, wt, out=slot("h", i))
        a = _act(act, h, out=slot("a", i))
        hs.append(h)
        acts.append(a)
    e = torch.addmm(bs[-1], a, wts[-1]).squeeze(-1)
    d = ws[-1].expand_as(a)  # dE/da of the last hidden layer: the output weights
    for i in range(len(hs) - 1, -1, -1):
        # grad * act'(h) over h itself: nothing reads the pre-activation after this.
        d = _act_backward(act, d, hs[i], acts[i], out=slot("h", i))
        if i > 0:
            d = torch.mm(d, ws[i], out=slot("d", i - 1))
    # dE/dx = d W0, computed as (W0^T d^T)^T: a product with 2 output columns is a slow shape
    # for the BLAS (~4x slower than this one on a 2-core CPU); the result is the same.
    return e, torch.mm(wts[0], d.t()).t().contiguous()


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
    buf: Workspace | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x' = x - eta clamp(g) + sigma noise (clamped to the box when asked), then E(x') and
    dE/dx'. Scalars are 0-d tensors so that a live change of step size or noise does not
    recompile. The update is two multiply-adds (one operation each, not four)."""
    if clamp_grad:
        g = torch.clamp(g, -gclamp, gclamp)
    x = torch.addcmul(x, eta, g, value=-1.0).addcmul_(sigma, noise)
    if clamp_box:
        x = torch.clamp(x, -box, box)
    e, g = _energy_and_grad(x, act, ws, bs, wts, buf)
    return x, e, g


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
