"""MCMC samplers, and where chains start (CD, PCD, replay buffer, short-run).

Chains are tensors of shape (N, *event_shape): 2D points (N, 2) in the studio, images
(N, C, H, W) on digits; every sum over a chain's coordinates runs over all non-batch axes. The
2D augmentation transforms (rotation, reflection, warp) need points; ``jump`` works in any
dimension.

One implementation serves training, the GUI's sample mode and the benchmarks. Every random draw
takes the run's ``torch.Generator``. Large chain sets are processed in blocks of ``BLOCK`` rows:
chains are independent, and blocks keep the activations in cache (README.md, Performance).
Formulas and sources of every sampler and chain-start policy: docs/algorithms.md.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import fast_energy, tempering
from .config import BufferConfig, SamplerConfig
from .fast_energy import FastMLPEnergy

EnergyFn = Callable[[torch.Tensor], torch.Tensor]
BLOCK = 4096
# Compiled-step variants (dtype, device, depth, activation, clamps) already compiled.
_warm: dict[tuple, bool] = {}


def compile_allowed() -> bool:
    """Whether this thread may run the compiled step: the main thread only (the CLI, the
    benchmarks). ``torch.compile`` is not thread-safe: Dynamo and Inductor keep process-wide
    state, and the garbage a compilation leaves is collected by whichever thread runs Python's
    GC next; in the studio that is the GUI thread, painting, while the worker trains. The
    studio's worker threads therefore run the eager step, which gives the same chains."""
    return threading.current_thread() is threading.main_thread()


@dataclass
class SamplerStats:
    """Averages over the steps of one ``run`` call (acceptance is None for ULA); for parallel
    tempering the swap acceptance of each adjacent pair of the ladder, coldest pair first."""

    acceptance: float | None
    mean_energy: float
    grad_norm: float
    steps: int
    swap_rates: tuple[float, ...] | None = None


def energy_and_grad(
    energy: EnergyFn, x: torch.Tensor, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """E(x) and dE/dx for a batch. With ``create_graph`` the gradient stays differentiable
    (needed by the KL term, which backpropagates through sampler steps)."""
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        e = energy(x)
        (g,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
    return (e if create_graph else e.detach()), (g if create_graph else g.detach())


def rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-chain (N,) tensor shaped to broadcast against chains ``like`` (N, *event)."""
    return mask.reshape(mask.shape[0], *([1] * (like.ndim - 1)))


def sq_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-chain squared norm over every non-batch axis."""
    return (v * v).reshape(v.shape[0], -1).sum(-1)


def chain_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-chain Euclidean norm over every non-batch axis."""
    return torch.linalg.vector_norm(v.reshape(v.shape[0], -1), dim=-1)


def _noise_sigma(cfg: SamplerConfig, step_size: float) -> float:
    if cfg.noise_mode == "coupled":
        return math.sqrt(2.0 * step_size * cfg.temperature)
    return cfg.noise


class Sampler:
    """Langevin (ULA), MALA or random-walk MH on a batch of chains of shape (N, *event_shape).

    Holds the (possibly adapted) MALA step size; everything else comes from the config, which
    may be replaced between calls (live settings).
    """

    def __init__(self, cfg: SamplerConfig, box: float, fast: bool = True) -> None:
        self.cfg = cfg
        self.box = box
        self.step_size = cfg.step_size
        # Use the hand-written MLP gradient when the energy allows it (autograd otherwise).
        self.fast = fast
        self._fast: FastMLPEnergy | None = None
        # The hand-written path's hidden-layer buffers, kept from run to run (CPU only).
        self._buf: fast_energy.Workspace | None = None
        # Per chain of the last ``run``: an augmentation move (jump, rotation, reflection,
        # shear) was accepted, so its path is not continuous (trails break there).
        self.moved: torch.Tensor | None = None
        self._exact = tempering.ExactRun()  # PT's hot replicas live here between runs
        self.last_stats: SamplerStats | None = None

    def _workspace(self, x: torch.Tensor) -> fast_energy.Workspace | None:
        assert self._fast is not None
        self._buf = self._fast.workspace(x, self._buf)
        return self._buf

    def _eg(self, energy, x, create_graph=False):
        if self._fast is not None and not create_graph:
            return self._fast.energy_and_grad(x, self._workspace(x))
        return energy_and_grad(energy, x, create_graph)

    def _e(self, energy, x, create_graph=False):
        if self._fast is not None and not create_graph:
            return self._fast(x)
        with torch.set_grad_enabled(create_graph):
            e = energy(x)
        return e if create_graph else e.detach()

    def apply_config(self, cfg: SamplerConfig) -> None:
        if cfg.step_size != self.cfg.step_size or cfg.kind != self.cfg.kind:
            self.step_size = cfg.step_size
        self.cfg = cfg

    # -- single steps --------------------------------------------------------------------
    def clamp_grad(self, g: torch.Tensor) -> torch.Tensor:
        """The gradient as the sampler uses it (``grad_clamp`` per coordinate, 0 = off)."""
        c = self.cfg.grad_clamp
        return g.clamp(-c, c) if c > 0 else g

    _grad = clamp_grad

    def _clamp(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-self.box, self.box) if self.cfg.clamp_box else x

    def _langevin(self, energy, x, e, g, gen, create_graph):
        eta = self.step_size
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        x_new = self._clamp(x - eta * self._grad(g) + _noise_sigma(self.cfg, eta) * noise)
        e_new, g_new = self._eg(energy, x_new, create_graph)
        return x_new, e_new, g_new, None

    def _mala(self, energy, x, e, g, gen, create_graph):
        eta, t = self.step_size, self.cfg.temperature
        sigma = math.sqrt(2.0 * eta * t)
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        gc = self._grad(g)
        prop = x - eta * gc + sigma * noise
        e_p, g_p = self._eg(energy, prop, create_graph)
        # log q(x'|x) - log q(x|x') with q(a|b) = N(a; b - eta grad E(b), 2 eta T I)
        fwd = sq_norm(prop - x + eta * gc)
        bwd = sq_norm(x - prop + eta * self._grad(g_p))
        log_a = -(e_p - e) / t - (bwd - fwd) / (4.0 * eta * t)
        u = torch.rand(x.shape[0], generator=gen, device=x.device, dtype=x.dtype)
        acc = (torch.log(u) < log_a.detach()) & torch.isfinite(e_p.detach())
        a = rows(acc, x)
        # torch.where keeps the graph for accepted moves when create_graph is on.
        return (
            torch.where(a, prop, x),
            torch.where(acc, e_p, e),
            torch.where(a, g_p, g),
            acc,
        )

    def _rwmh(self, energy, x, e, g, gen, create_graph):
        t = self.cfg.temperature
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        prop = self._clamp(x + self.step_size * noise)
        e_p = self._e(energy, prop, create_graph)
        u = torch.rand(x.shape[0], generator=gen, device=x.device, dtype=x.dtype)
        acc = (torch.log(u) < -(e_p - e).detach() / t) & torch.isfinite(e_p.detach())
        return torch.where(rows(acc, x), prop, x), torch.where(acc, e_p, e), g, acc

    def _fused_args(self, x: torch.Tensor) -> tuple:
        """The fused step's arguments other than (x, g, noise): fixed for one block."""
        assert self._fast is not None
        eta, f = self.step_size, self._fast
        scalars = (eta, _noise_sigma(self.cfg, eta), self.box, self.cfg.grad_clamp)
        return (
            *(torch.tensor(v, dtype=x.dtype, device=x.device) for v in scalars),
            f.weights,
            f.biases,
            f.w_t,
            f.act,
            self.cfg.clamp_box,
            self.cfg.grad_clamp > 0,
        )

    @torch.no_grad()
    def _fused_langevin(self, x, g, gen, args):
        """The ULA step of ``_langevin`` as one function of tensors (``fast_energy``), compiled
        when ``cfg.compile`` asks for it. Same random draw, same arithmetic: same chains."""
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        compiled = self.cfg.compile and compile_allowed()
        step = fast_energy.compiled_langevin_step() if compiled else None
        if step is not None:
            try:
                key = (x.dtype, x.device.type, len(args[4]), *args[-3:])
                if key in _warm:
                    return step(x, g, noise, *args)
                # First call of this variant compiles; that imports deprecated torch internals
                # (not our warning, and pytest runs with warnings as errors).
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    out = step(x, g, noise, *args)
                _warm[key] = True
                return out
            except Exception as exc:  # compilation failed: eager from now on
                fast_energy.compile_failed(exc)
        return fast_energy.langevin_step(x, g, noise, *args, buf=self._workspace(x))

    # -- augmentation transitions (Du et al. 2021; docs/algorithms.md 2.4) -----------------
    def augment(
        self, energy: EnergyFn, x: torch.Tensor, e: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Apply one random volume-preserving, symmetric transform to every chain.

        Each move is its own inverse in distribution (rotation by +-theta, reflection, a shear
        with symmetric amplitude, a symmetric jump), so with ``augment_mh`` the Metropolis ratio
        is exp(-dE/T) and the target stays invariant; the image-only ``elastic`` warp is
        symmetric but not exactly volume-preserving (approximate). Returns (x, e, accepted)."""
        prop = augment_transform(self.cfg.augment, x, gen, self.box)
        e_p = self._e(energy, prop)
        if self.cfg.augment_mh:
            u = torch.rand(x.shape[0], generator=gen, device=x.device, dtype=x.dtype)
            acc = (torch.log(u) < -(e_p - e) / self.cfg.temperature) & torch.isfinite(e_p)
        else:
            acc = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        return torch.where(rows(acc, x), prop, x), torch.where(acc, e_p, e), acc

    # -- runs ----------------------------------------------------------------------------
    def run(
        self,
        energy: EnergyFn,
        x: torch.Tensor,
        steps: int,
        gen: torch.Generator,
        *,
        differentiable_last: int = 0,
        block: int = BLOCK,
    ) -> tuple[torch.Tensor, SamplerStats]:
        """Run ``steps`` sampler steps from ``x``. The last ``differentiable_last`` steps keep
        their autograd graph (for the KL term); the rest run detached, block by block."""
        if self.cfg.kind in tempering.EXACT_KINDS:
            self.moved = None  # not tracked: a tempering swap is not reported as a jump yet
            x, self.last_stats = self._run_exact(energy, x, steps, gen)
            return x, self.last_stats
        n = x.shape[0]
        self._fast = (
            FastMLPEnergy.from_module(energy)
            # The hand-written gradient is for flat (N, D) inputs: images take autograd.
            if self.fast and isinstance(energy, torch.nn.Module) and x.ndim == 2
            else None
        )
        if steps == 0:
            self.moved = torch.zeros(n, dtype=torch.bool, device=x.device)
            with torch.no_grad():
                e = energy(x)
            return x.detach(), SamplerStats(None, float(e.mean()), 0.0, 0)
        plain = steps - differentiable_last
        outs, moves, acc_sum, e_sum, g_sum = [], [], 0.0, 0.0, 0.0
        blocks = range(0, n, block) if differentiable_last == 0 else range(0, n, n)
        for i in blocks:
            xb = x[i : i + block].detach() if differentiable_last == 0 else x.detach()
            xb, a, es, gs, mv = self._run_block(energy, xb, steps, plain, gen)
            outs.append(xb)
            moves.append(mv)
            acc_sum, e_sum, g_sum = acc_sum + a, e_sum + es, g_sum + gs
        x_out = torch.cat(outs) if len(outs) > 1 else outs[0]
        self.moved = torch.cat(moves) if len(moves) > 1 else moves[0]
        self._fast = None  # weights change after this run: never reuse a stale copy
        denom = n * steps
        acc = None if self.cfg.kind == "langevin" else acc_sum / denom
        if self.cfg.adapt and self.cfg.kind == "mala" and acc is not None:
            # Robbins-Monro on log step toward the target acceptance (between updates only).
            self.step_size *= math.exp(0.5 * (acc - self.cfg.target_accept))
            self.step_size = min(max(self.step_size, 1e-6), 10.0)
        self.last_stats = SamplerStats(acc, e_sum / denom, g_sum / denom, steps)
        return x_out, self.last_stats

    def _run_exact(self, energy, x, steps, gen) -> tuple[torch.Tensor, SamplerStats]:
        """PT or HMC (core/tempering.py): no autograd graph through the steps."""
        if steps == 0:
            with torch.no_grad():
                return x.detach(), SamplerStats(None, float(energy(x).mean()), 0.0, 0)
        x, (acc, e, g, rates) = self._exact.run(self, energy, x, steps, gen)
        return x, SamplerStats(acc, e, g, steps, rates)

    def _run_block(self, energy, x, steps, plain, gen):
        step_fn = {"langevin": self._langevin, "mala": self._mala, "rwmh": self._rwmh}[
            self.cfg.kind
        ]
        m = self.cfg.augment_every if self.cfg.augment != "none" else 0
        fused = self._fast is not None and self.cfg.kind == "langevin"
        fused_args = self._fused_args(x) if fused else ()
        if self.cfg.kind == "rwmh":
            e = self._e(energy, x)
            g = torch.zeros_like(x)
        else:
            e, g = self._eg(energy, x)
        acc_sum = torch.zeros((), device=x.device)
        e_sum = torch.zeros((), device=x.device)
        g_sum = torch.zeros((), device=x.device)
        # Fused steps accumulate per chain, in place: two operations a step, summed once.
        e_acc = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype) if fused else None
        g_acc = torch.zeros_like(e_acc) if fused else None
        moved = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for t in range(steps):
            graph = t >= plain
            if graph and t == plain and not x.requires_grad:
                # Re-enter the graph: from here on, steps are differentiated w.r.t. theta.
                e, g = self._eg(energy, x, create_graph=True)
            if fused and not graph:
                x, e, g = self._fused_langevin(x, g, gen, fused_args)
                e_acc.add_(e)
                g_acc.add_(torch.linalg.vector_norm(g, dim=-1))
            else:
                x, e, g, acc = step_fn(energy, x, e, g, gen, graph)
                if acc is not None:
                    acc_sum = acc_sum + acc.sum()
                e_sum = e_sum + e.detach().sum()
                g_sum = g_sum + chain_norm(g.detach()).sum()
            if m and (t + 1) % m == 0 and not graph:
                x, e, acc_aug = self.augment(energy, x, e, gen)
                moved |= acc_aug
                if self.cfg.kind != "rwmh":
                    e, g = self._eg(energy, x)
        if fused:
            e_sum, g_sum = e_sum + e_acc.sum(), g_sum + g_acc.sum()
        # One host sync per block, not per step.
        return x, float(acc_sum), float(e_sum), float(g_sum), moved


def augment_transform(kind: str, x: torch.Tensor, gen: torch.Generator, box: float):
    """A random symmetric, volume-preserving transform applied per chain."""
    n, dev, dt = x.shape[0], x.device, x.dtype
    if kind == "jump":
        return x + torch.randn(x.shape, generator=gen, device=dev, dtype=dt) * (box / 2)
    if kind == "elastic":
        return elastic_transform(x, gen)
    if kind in ("rotation", "reflection", "warp") and tuple(x.shape[1:]) != (2,):
        raise ValueError(
            f"augmentation '{kind}' transforms 2D points; chains of shape "
            f"{tuple(x.shape[1:])} allow 'jump' only"
        )
    if kind == "rotation":
        th = (torch.rand(n, generator=gen, device=dev, dtype=dt) * 2 - 1) * math.pi
        c, s = torch.cos(th), torch.sin(th)
        return torch.stack([c * x[:, 0] - s * x[:, 1], s * x[:, 0] + c * x[:, 1]], 1)
    if kind == "reflection":
        th = torch.rand(n, generator=gen, device=dev, dtype=dt) * math.pi
        u = torch.stack([torch.cos(th), torch.sin(th)], 1)
        return x - 2 * (x * u).sum(-1, keepdim=True) * u  # reflect across the line normal to u
    if kind == "warp":
        # Shear along a random direction u: x + a sin(w <x, u_perp> + b) u. Jacobian det 1,
        # inverse = same map with -a, and a is symmetric: a valid symmetric MH proposal.
        th = torch.rand(n, generator=gen, device=dev, dtype=dt) * math.pi
        u = torch.stack([torch.cos(th), torch.sin(th)], 1)
        up = torch.stack([-u[:, 1], u[:, 0]], 1)
        a = torch.randn(n, generator=gen, device=dev, dtype=dt) * (box / 3)
        w = torch.rand(n, generator=gen, device=dev, dtype=dt) * (2 * math.pi / box)
        b = torch.rand(n, generator=gen, device=dev, dtype=dt) * 2 * math.pi
        return x + (a * torch.sin(w * (x * up).sum(-1) + b))[:, None] * u
    raise ValueError(f"unknown augmentation '{kind}'")


ELASTIC_ALPHA = 0.6  # displacement std at the coarse control points, in pixels


def elastic_transform(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """An elastic deformation of each image (Simard, Steinkraus & Platt 2003), as the sampler
    transition of Gagnon & Lajoie 2022, §6.3: a random displacement field, Gaussian at 3x3
    control points and bilinearly smoothed over the image, moves every pixel. The displacement
    distribution is symmetric (d and -d equally likely) but the warp is not exactly
    volume-preserving, so a Metropolis correction with exp(-dE/T) is approximate. The
    ``sampler.augment = "elastic"`` choice; the config refuses it on 2D data (``image_only``)."""
    if x.ndim != 4:
        raise ValueError(
            f"augmentation 'elastic' deforms images (N, C, H, W); chains of shape "
            f"{tuple(x.shape[1:])} allow 'jump' (2D points also rotation, reflection, warp)"
        )
    n, _, h, w = x.shape
    dev, dt = x.device, x.dtype
    coarse = torch.randn(n, 2, 3, 3, generator=gen, device=dev, dtype=dt) * ELASTIC_ALPHA
    disp = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")
    # grid_sample works in [-1, 1] coordinates: one pixel is 2 / size.
    scale = torch.tensor([2.0 / w, 2.0 / h], device=dev, dtype=dt)
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=dev, dtype=dt)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=dev, dtype=dt)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (h, w, 2) as (x, y)
    grid = base[None] + disp.permute(0, 2, 3, 1) * scale
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


# ---------------------------------------------------------------------------------------------
# Where chains start.


@dataclass
class StartInfo:
    """What a call to ``ChainStarts.draw`` did, for the statistics and the buffer inspector."""

    frac_noise: float
    frac_data: float
    index: torch.Tensor | None  # rows of the bank these chains came from (None: no bank)
    reset: torch.Tensor | None = None  # (n,) bool: chains that start afresh (not continued)


def _all(n: int, device) -> torch.Tensor:
    return torch.ones(n, dtype=torch.bool, device=device)


class ChainStarts:
    """Chain-start policies of the MCMC objectives.

    - ``data``: CD-k, chains start at the data batch.
    - ``persistent``: PCD, a bank initialised from data; each drawn chain resets to a data point
      with probability ``p_data``; results are written back.
    - ``buffer``: replay buffer (Du & Mordatch), initialised from uniform noise (or data); each
      start is re-initialised from noise with ``p_noise`` or from data with ``p_data``.
    - ``noise``: short-run MCMC from fresh uniform noise every update.
    """

    def __init__(
        self,
        policy: str,
        cfg: BufferConfig,
        box: float,
        data: torch.Tensor,
        gen: torch.Generator,
    ) -> None:
        self.policy, self.cfg, self.box, self.data = policy, cfg, box, data
        self.device = data.device
        self.bank: torch.Tensor | None = None
        self.age: torch.Tensor | None = None  # updates since each entry was (re)initialised
        if policy in ("persistent", "buffer"):
            from_data = policy == "persistent" or cfg.init == "data"
            m = cfg.size
            self.bank = self._from_data(m, gen) if from_data else self._noise(m, gen)
            self.age = torch.zeros(m, dtype=torch.int64, device=self.device)

    def apply_config(self, cfg: BufferConfig) -> None:
        self.cfg = cfg

    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, *self.data.shape[1:], generator=gen, device=self.device)
        return (2 * u - 1) * self.box

    def _from_data(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.data), (n,), generator=gen, device=self.device)
        return self.data[idx].clone()

    def draw(
        self, n: int, batch: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, StartInfo]:
        if self.policy == "data":
            return batch.detach().clone(), StartInfo(0.0, 1.0, None, _all(n, batch.device))
        if self.policy == "noise":
            return self._noise(n, gen), StartInfo(1.0, 0.0, None, _all(n, self.device))
        assert self.bank is not None and self.age is not None
        m = len(self.bank)
        if m == n and self.policy == "persistent":
            idx = torch.arange(m, device=self.device)  # Tieleman: every chain continues
        else:
            idx = torch.randint(m, (n,), generator=gen, device=self.device)
        x = self.bank[idx].clone()
        u = torch.rand(n, generator=gen, device=self.device)
        p_noise = self.cfg.p_noise if self.policy == "buffer" else 0.0
        to_noise = u < p_noise
        to_data = (u >= p_noise) & (u < p_noise + self.cfg.p_data)
        x = torch.where(rows(to_noise, x), self._noise(n, gen), x)
        x = torch.where(rows(to_data, x), self._from_data(n, gen), x)
        reset = to_noise | to_data
        self.age[idx[reset]] = 0
        frac_noise, frac_data = float(to_noise.float().mean()), float(to_data.float().mean())
        return x, StartInfo(frac_noise, frac_data, idx, reset)

    def write_back(self, x: torch.Tensor, info: StartInfo) -> None:
        if self.bank is None or info.index is None:
            return
        self.bank[info.index] = x.detach()
        self.age += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.bank is None:
            return {}
        return {"bank": self.bank, "age": self.age}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        if self.bank is not None:
            self.bank = d["bank"].to(self.device).clone()
            self.age = d["age"].to(self.device).clone()
