"""The Python API: the studio's samplers and objectives around one's own energy, in any
dimension (docs/api.md).

- ``sample(energy, x0, sampler="mala", steps=..., step_size=..., generator=g)``: chains from
  any callable or ``nn.Module`` energy, returning (chains, statistics);
- ``train(module, data, objective="mcmc", steps=..., **settings)``: train a user's module on a
  user's tensor with any objective by name and the settings the presets use, returning the
  history and the trained module.

Settings are the presets' keys: ``"section.key"`` in ``settings=`` or, where the key name is
unique across sections, as a keyword (``step_size=0.01`` is ``sampler.step_size``; ``lr`` is
``optim.lr``). Every value is validated as a preset value is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from .core.config import SECTIONS, Config, ConfigError
from .core.samplers import EnergyFn, Sampler, SamplerStats


def _key(name: str) -> str:
    """``section.key`` for a setting given as ``section.key`` or a unique bare key."""
    if "." in name:
        return name
    found = [s for s, klass in SECTIONS.items() if name in {f.name for f in fields(klass)}]
    if len(found) != 1:
        where = ", ".join(f"{s}.{name}" for s in found) or "no section"
        raise ConfigError(f"setting '{name}' is ambiguous or unknown ({where}); use section.key")
    return f"{found[0]}.{name}"


def make_config(
    base: Config | str | None = None, settings: dict[str, Any] | None = None, **short: Any
) -> Config:
    """A validated Config: a preset (name, path or Config) with ``settings`` applied."""
    if isinstance(base, str):
        from .core.presets import load_preset

        cfg = load_preset(base).config
    else:
        cfg = base or Config()
    for k, v in {**(settings or {}), **short}.items():
        cfg = cfg.with_value(_key(k), v)
    return cfg


def sample(
    energy: EnergyFn,
    x0: torch.Tensor,
    sampler: str = "mala",
    steps: int = 100,
    step_size: float = 0.01,
    generator: torch.Generator | None = None,
    *,
    temperature: float = 1.0,
    noise: float | None = None,
    box: float = 1.0,
    **settings: Any,
) -> tuple[torch.Tensor, SamplerStats]:
    """Run ``steps`` steps of ``sampler`` ("langevin", "mala" or "rwmh") from ``x0`` of shape
    (N, *event_shape) on E = ``energy``; returns (chains, SamplerStats). ``noise`` switches
    Langevin to decoupled noise of that std; other sampler settings (``grad_clamp``,
    ``augment``...) by name; ``box`` bounds ``clamp_box`` and sets the ``jump`` scale."""
    s = {"kind": sampler, "steps": steps, "step_size": step_size, "temperature": temperature}
    if noise is not None:
        s.update(noise_mode="decoupled", noise=noise)
    s.update(settings)
    cfg = make_config(settings={f"sampler.{k}": v for k, v in s.items()})
    gen = generator or torch.Generator(device=x0.device).manual_seed(0)
    return Sampler(cfg.sampler, box).run(energy, x0, steps, gen)


@dataclass
class TrainResult:
    module: nn.Module
    history: list[dict[str, float]]
    objective: Any  # the objective object (its chains(), buffer(), log_z_estimate())
    config: Config


def train(
    module: nn.Module,
    data: torch.Tensor,
    objective: str = "mcmc",
    steps: int = 500,
    *,
    preset: Config | str | None = None,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    box: float | None = None,
    callback=None,
    **short: Any,
) -> TrainResult:
    """Train ``module`` (x of shape (N, *event_shape) -> E of shape (N,)) on ``data`` with
    the objective named ``objective`` ("mcmc", "nce", "dsm", "ssm", "sm", "snl"; "fce" and
    the SNL flow proposal are 2D-only), as the trainer does: Adam with the optim settings,
    the objective's own scalars (log Z) at 10x the learning rate. ``box`` bounds the
    uniform noise of chain starts (default: the data's largest absolute value)."""
    from .core.objectives import Context, build_objective

    cfg = make_config(preset, settings, **short)
    cfg = cfg.with_value("objective.name", objective).with_value("train.steps", steps)
    device = data.device
    gen = torch.Generator(device=device).manual_seed(seed)
    flat = data.reshape(len(data), -1)
    ridge = 1e-6 if flat.shape[1] == 2 else 1e-3
    ctx = Context(
        model=module,
        gen=gen,
        device=device,
        box=float(box if box is not None else data.abs().max()),
        data=data,
        data_mean=flat.mean(0),
        data_cov=torch.cov(flat.T) + ridge * torch.eye(flat.shape[1], device=device),
    )
    obj = build_objective(objective, ctx, cfg)
    o = cfg.optim
    opt = torch.optim.Adam(
        module.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay
    )
    extras = obj.extra_parameters()
    extra_opt = torch.optim.Adam(extras, lr=max(o.lr * 10, 1e-3)) if extras else None
    history: list[dict[str, float]] = []
    for step in range(steps):
        idx = torch.randint(len(data), (cfg.train.batch_size,), generator=gen, device=device)
        loss, parts = obj.loss(data[idx])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged at step {step}: the loss is not finite")
        opt.zero_grad(set_to_none=True)
        if extra_opt is not None:
            extra_opt.zero_grad(set_to_none=True)
        loss.backward()
        if o.grad_clip > 0:
            nn.utils.clip_grad_norm_(module.parameters(), o.grad_clip)
        opt.step()
        if extra_opt is not None:
            extra_opt.step()
        parts.update(obj.after_step())
        row = {"step": float(step + 1), **parts}
        history.append(row)
        if callback is not None:
            callback(row)
    return TrainResult(module, history, obj, cfg)


def log_z_gaussian(dim: int, std: float = 1.0) -> float:
    """log Z of E(x) = |x|^2 / (2 std^2) in ``dim`` dimensions (for checks)."""
    return 0.5 * dim * math.log(2 * math.pi * std**2)


__all__ = ["sample", "train", "make_config", "TrainResult", "log_z_gaussian"]
