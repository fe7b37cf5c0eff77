"""Every setting of a run, as frozen dataclasses.

Each field carries metadata: allowed range (``lo``/``hi``) or ``choices``, a unit, a one-line
help text and a ``live`` flag. Live settings may change between two optimizer steps of a
running trainer; the others (network shape, dataset, device) need a reset. The GUI builds its
controls from this metadata and the preset loader validates against it, so it is the one place
where limits are written down.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A setting that is unknown, of the wrong type or out of range."""


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    live: bool = True,
    unit: str = "",
    help: str = "",
    log: bool = False,
    image_only: tuple[str, ...] = (),
) -> Any:
    """A dataclass field with validation metadata (``log`` hints a log-scale control;
    ``image_only`` lists the choices that need image data and are refused on 2D points)."""
    meta = {
        "lo": lo,
        "hi": hi,
        "choices": choices,
        "live": live,
        "unit": unit,
        "help": help,
        "log": log,
        "image_only": image_only,
    }
    return field(default=default, metadata=meta)


DATASETS = (
    "8gaussians",
    "25gaussians",
    "rings",
    "checkerboard",
    "moons",
    "spirals",
    "pinwheel",
    "swissroll",
    "unequal3",
    "csv",
    "image",
    "drawn",
    "digits",
    "mnist",
)
# Image data sets (chains of shape (N, 1, H, W)); the exact-grid metrics are 2D-only.
IMAGE_DATASETS = ("digits", "mnist")
OBJECTIVES = ("mcmc", "nce", "fce", "sm", "dsm", "ssm", "snl")
CHAIN_STARTS = ("data", "persistent", "buffer", "noise")
SAMPLERS = ("langevin", "mala", "rwmh", "pt", "hmc")
ACTIVATIONS = ("silu", "leakyrelu", "softplus", "tanh", "relu", "elu")


@dataclass(frozen=True)
class DataConfig:
    # Which 2D distribution to learn; all built-in ones have an exact density.
    name: str = param("8gaussians", choices=DATASETS, live=False, help="data distribution")
    # Size of the fixed training set drawn once per run (batches are drawn from it).
    n_train: int = param(20000, lo=16, hi=2_000_000, live=False, help="training points")
    # Held-out test set for NLL/KL, drawn once per run from a separate stream.
    n_test: int = param(5000, lo=100, hi=200_000, live=False, help="test points")
    # Half-width of the square box [-box, box]^2 used for the grid, plots and uniform noise.
    box: float = param(4.5, lo=0.5, hi=100.0, live=False, unit="", help="box half-width")
    # Noise scale of the distribution (std of the Gaussians, radial std of rings, curve noise).
    std: float = param(0.0, lo=0.0, hi=5.0, live=False, help="noise std (0 = dataset default)")
    # Source file for name = "csv" (two columns), "image" (grayscale density) or "mnist"
    # (the user's IDX file, gzipped or not, or an .npz with an image array).
    path: str = param("", live=False, help="CSV, image, MNIST IDX or .npz file")
    # MNIST only: average 2x2 pixel blocks, 28x28 -> 14x14.
    downsample: bool = param(False, live=False, help="MNIST: downsample to 14x14")


@dataclass(frozen=True)
class ModelConfig:
    # mlp: the 2D studio's network (flattens images); conv: a small convolutional energy for
    # images (Du & Mordatch 2019): conv layers to a 128-vector, two linear layers to E.
    arch: str = param("mlp", choices=("mlp", "conv"), live=False, help="network kind")
    channels: int = param(32, lo=4, hi=512, live=False, help="conv: first layer's channels")
    width: int = param(128, lo=4, hi=2048, live=False, help="hidden units per layer")
    depth: int = param(3, lo=1, hi=12, live=False, help="hidden layers")
    activation: str = param("silu", choices=ACTIVATIONS, live=False, help="nonlinearity")
    # x is multiplied by this before the first layer. Finer initial features: at 3 the exact-ML
    # fit of 8 Gaussians skips the ~1500-step "ring" plateau that scale 1 sits on.
    input_scale: float = param(3.0, lo=0.01, hi=100.0, live=False, help="input scale")
    # Spectral normalisation bounds each layer's Lipschitz constant (smoother landscapes).
    spectral_norm: bool = param(False, live=False, help="spectral normalisation")


@dataclass(frozen=True)
class ObjectiveConfig:
    name: str = param("mcmc", choices=OBJECTIVES, help="training objective")
    # --- MCMC family: where the negative chains start is what distinguishes CD/PCD/ML/short-run.
    start: str = param("buffer", choices=CHAIN_STARTS, help="chain start policy")
    # Energy magnitude penalty alpha * (E+^2 + E-^2); ~0.1 keeps energies bounded.
    alpha: float = param(0.1, lo=0.0, hi=100.0, help="energy penalty alpha")
    # KL term of Du et al. 2021: weight, steps differentiated, sign (docs/algorithms.md 1.3).
    kl_weight: float = param(0.0, lo=0.0, hi=100.0, help="KL term weight")
    kl_steps: int = param(1, lo=1, hi=100, help="sampler steps the KL gradient flows through")
    kl_sign: str = param(
        "published", choices=("published", "cd-consistent"), help="KL/entropy sign convention"
    )
    ent_weight: float = param(0.0, lo=0.0, hi=100.0, help="NN entropy term weight")
    # --- NCE / FCE
    noise: str = param(
        "gaussian", choices=("gaussian", "uniform", "custom", "kde"), help="NCE noise"
    )
    nu: float = param(1.0, lo=0.01, hi=100.0, help="noise ratio nu", log=True)
    noise_x: float = param(0.0, lo=-100.0, hi=100.0, help="custom noise mean x")
    noise_y: float = param(0.0, lo=-100.0, hi=100.0, help="custom noise mean y")
    noise_std: float = param(1.0, lo=0.01, hi=100.0, help="custom noise std", log=True)
    flow_layers: int = param(6, lo=2, hi=16, help="FCE flow coupling layers")
    flow_lr: float = param(1e-3, lo=1e-6, hi=1.0, help="FCE flow learning rate", log=True)
    flow_pretrain: int = param(500, lo=0, hi=100000, help="FCE flow ML pretraining steps")
    # --- score matching
    sigma: float = param(0.1, lo=1e-3, hi=5.0, help="DSM noise level sigma", log=True)
    projections: int = param(1, lo=1, hi=256, help="SSM random projections")
    projection_dist: str = param("gaussian", choices=("gaussian", "rademacher"), help="SSM dist")
    variance_reduced: bool = param(True, help="SSM variance-reduced form")
    # --- SNL
    proposal: str = param(
        "uniform", choices=("gaussian", "uniform", "flow", "kde"), help="SNL proposal"
    )
    proposal_samples: int = param(1024, lo=1, hi=1_000_000, help="SNL proposal samples M")


@dataclass(frozen=True)
class SamplerConfig:
    kind: str = param("langevin", choices=SAMPLERS, help="MCMC sampler")
    steps: int = param(20, lo=0, hi=10000, help="sampler steps per update (k)")
    # eta in x <- x - eta * grad E + sigma * xi (for RWMH: the proposal std).
    step_size: float = param(0.01, lo=1e-6, hi=10.0, help="step size eta", log=True)
    # coupled: sigma = sqrt(2 eta T) (valid ULA); decoupled: sigma set by `noise`.
    noise_mode: str = param("coupled", choices=("coupled", "decoupled"), help="noise coupling")
    noise: float = param(0.005, lo=0.0, hi=10.0, help="decoupled noise sigma")
    temperature: float = param(1.0, lo=1e-3, hi=100.0, help="temperature T", log=True)
    grad_clamp: float = param(0.0, lo=0.0, hi=1e6, help="clamp |grad E| per coordinate (0 off)")
    clamp_box: bool = param(False, help="clamp chains to the box")
    n_chains: int = param(256, lo=1, hi=2_000_000, help="negative chains per update")
    # MALA step adaptation toward the optimal 0.574 acceptance.
    # Parallel tempering (core/tempering.py): replicas on a geometric ladder from T to
    # T * pt_top_temp; 32 rungs already cost 32 energy evaluations per chain and step.
    pt_replicas: int = param(6, lo=2, hi=32, help="PT replicas (ladder size)")
    pt_top_temp: float = param(
        20.0, lo=1.1, hi=1000.0, help="PT top temperature (multiple of T)", log=True
    )
    pt_move: str = param("mala", choices=("mala", "langevin"), help="PT move within a replica")
    # HMC: step_size is the leapfrog step epsilon.
    hmc_leapfrog: int = param(10, lo=1, hi=200, help="HMC leapfrog steps per proposal")
    adapt: bool = param(False, help="adapt MALA step toward acceptance target")
    target_accept: float = param(0.574, lo=0.05, hi=0.95, help="MALA acceptance target")
    # Data-augmentation transitions (Du et al. 2021): a random transform applied to chains,
    # optionally Metropolis-corrected (docs/algorithms.md, section 2.4).
    # 'elastic' deforms images (Simard et al. 2003), so it is refused on 2D points.
    augment: str = param(
        "none",
        choices=("none", "rotation", "reflection", "warp", "jump", "elastic"),
        image_only=("elastic",),
        help="augmentation",
    )
    augment_every: int = param(0, lo=0, hi=10000, help="apply every m sampler steps (0 off)")
    augment_on_draw: bool = param(False, help="apply when a start is drawn from the buffer")
    augment_mh: bool = param(True, help="Metropolis-correct augmentation moves")
    # torch.compile the fused Langevin step of MLP energies (compiles once on first use; eager
    # fallback). Meant for GPUs; on a CPU the eager step with its reused buffers is faster
    # (Inductor allocates its intermediates at every call). Main thread only (the CLI, the
    # benchmarks): torch.compile is not thread-safe, so the studio's worker threads run the
    # eager step, with the same chains (samplers.compile_allowed).
    compile: bool = param(
        False, help="compile the Langevin step in the CLI (first use compiles; not in the studio)"
    )


@dataclass(frozen=True)
class BufferConfig:
    size: int = param(10000, lo=1, hi=2_000_000, live=False, help="buffer / chain bank size")
    p_noise: float = param(0.05, lo=0.0, hi=1.0, help="re-init from uniform noise")
    p_data: float = param(0.0, lo=0.0, hi=1.0, help="re-init from data")
    # What fills the buffer at the start: noise (Du & Mordatch) or data ("true CD" variant).
    init: str = param("noise", choices=("noise", "data"), live=False, help="initial contents")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = param(1e-3, lo=1e-7, hi=1.0, help="Adam learning rate", log=True)
    beta1: float = param(0.9, lo=0.0, hi=0.9999, help="Adam beta1")
    beta2: float = param(0.999, lo=0.0, hi=0.99999, help="Adam beta2")
    weight_decay: float = param(0.0, lo=0.0, hi=1.0, help="weight decay")
    grad_clip: float = param(0.0, lo=0.0, hi=1e6, help="clip parameter gradient norm (0 off)")
    # Cosine decay to lr * lr_final over train.steps steadies the end of a preset.
    schedule: str = param("constant", choices=("constant", "cosine"), help="lr schedule")
    lr_final: float = param(0.1, lo=0.0, hi=1.0, help="final lr as fraction (cosine)")
    # Linear warm-up from lr / warmup to lr over the first ``warmup`` steps (0 off): the first
    # updates of a fresh network are the largest, and MCMC chains have not mixed yet.
    warmup: int = param(0, lo=0, hi=1_000_000, help="lr warm-up steps (linear, 0 off)")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = param(3000, lo=0, hi=10_000_000, help="steps for a headless run")
    batch_size: int = param(256, lo=1, hi=1_000_000, help="data batch size")
    seed: int = param(0, lo=0, hi=2**31 - 1, live=False, help="random seed")
    device: str = param(
        "auto", choices=("auto", "cpu", "cuda", "mps"), live=False, help="compute device"
    )
    # Metrics that need the grid (log Z, KL, NLL) are computed every eval_every steps.
    eval_every: int = param(250, lo=1, hi=1_000_000, help="exact metrics every N steps")
    grid_res: int = param(200, lo=16, hi=2048, help="metric grid resolution per axis")
    # Divergence guard: energies beyond this magnitude count as divergence.
    energy_limit: float = param(1e4, lo=1.0, hi=1e12, help="divergence energy limit", log=True)
    guard_every: int = param(50, lo=1, hi=100000, help="keep a good snapshot every N steps")
    # Stop training at the first evaluation whose exact KL (datasets with a density only) is at
    # or below this value: most steps after the landscape is right leave the KL where it is.
    stop_at_kl: float = param(
        0.0, lo=0.0, hi=100.0, unit="nats", help="stop when KL reaches ... (0 off, exact data)"
    )


@dataclass(frozen=True)
class ViewConfig:
    heatmap: str = param("density", choices=("energy", "density", "log-density"), help="heatmap")
    colormap: str = param(
        "viridis", choices=("viridis", "inferno", "magma", "plasma", "cividis"), help="colours"
    )
    levels: str = param("robust", choices=("robust", "locked", "auto"), help="colour levels")
    contours: bool = param(False, help="contour lines")
    true_contours: bool = param(False, help="true density contours")
    show_data: bool = param(True, help="data points")
    show_chains: bool = param(True, help="chains")
    show_trails: bool = param(True, help="chain trails")
    trail_jumps: str = param(
        "dashed", choices=("dashed", "marker", "hidden"), help="trail jumps and resets"
    )
    show_buffer: bool = param(False, help="replay buffer")
    show_score: bool = param(False, help="score arrows")
    resolution: int = param(120, lo=16, hi=1024, help="heatmap resolution")
    fps: int = param(30, lo=1, hi=120, help="frame-rate cap")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "sampler": SamplerConfig,
    "buffer": BufferConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "view": ViewConfig,
}


@dataclass(frozen=True)
class Config:
    """A complete run configuration (one frozen dataclass per preset section)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    view: ViewConfig = field(default_factory=ViewConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config") -> Config:
        """Validate a nested dict (missing keys take defaults). Raises ConfigError."""
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a table of sections, got {type(d).__name__}")
        unknown = [k for k in d if k not in SECTIONS]
        if unknown:
            raise ConfigError(
                f"{source}: unknown section [{unknown[0]}]; allowed sections: "
                + ", ".join(SECTIONS)
            )
        parts = {}
        for name, klass in SECTIONS.items():
            sec = d.get(name, {})
            if not isinstance(sec, dict):
                raise ConfigError(f"{source}: [{name}] must be a table of keys")
            parts[name] = _build_section(klass, name, sec, source)
        _check_image_only(parts, source)
        return cls(**parts)

    def with_value(self, key: str, value: Any) -> Config:
        """Return a copy with ``section.key`` set (validated); used by ``--set`` and the GUI."""
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(
                f"'{key}': expected section.key with section one of: " + ", ".join(SECTIONS)
            )
        d = self.to_dict()
        if name not in d[section]:
            raise ConfigError(
                f"unknown key '{key}'; allowed keys in [{section}]: " + ", ".join(d[section])
            )
        d[section][name] = value
        return Config.from_dict(d)


def field_meta(section: str, key: str) -> dict[str, Any]:
    """Metadata (lo, hi, choices, live, unit, help, log) of one field."""
    for f in fields(SECTIONS[section]):
        if f.name == key:
            return dict(f.metadata)
    raise KeyError(f"{section}.{key}")


def _describe_allowed(f: dataclasses.Field, typ: type) -> str:
    m = f.metadata
    if m.get("choices"):
        return "one of: " + ", ".join(repr(c) for c in m["choices"])
    if typ is bool:
        return "true or false"
    lo, hi = m.get("lo"), m.get("hi")
    kind = "an integer" if typ is int else "a number" if typ is float else "a string"
    if lo is not None and hi is not None:
        return f"{kind} in [{lo:g}, {hi:g}]"
    return kind


def _coerce(f: dataclasses.Field, typ: type, value: Any, where: str) -> Any:
    allowed = _describe_allowed(f, typ)
    bad = ConfigError(f"{where} = {value!r} is not allowed; expected {allowed}")
    if typ is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if typ is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise bad
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if not math.isfinite(value):
            raise bad
    elif typ is str and not isinstance(value, str):
        raise bad
    m = f.metadata
    if m.get("choices") and value not in m["choices"]:
        raise bad
    lo, hi = m.get("lo"), m.get("hi")
    if typ in (int, float) and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        raise bad
    return value


def _check_image_only(parts: dict[str, Any], source: str) -> None:
    """Refuse a choice that needs images (``image_only`` metadata) when the data are 2D points."""
    data = parts["data"].name
    if data in IMAGE_DATASETS:
        return
    for name, sec in parts.items():
        for f in fields(sec):
            value = getattr(sec, f.name)
            if value in f.metadata.get("image_only", ()):
                allowed = [c for c in f.metadata["choices"] if c not in f.metadata["image_only"]]
                raise ConfigError(
                    f"{source}: {name}.{f.name} = {value!r} needs image data but data.name = "
                    f"{data!r} is 2D points; expected one of: "
                    + ", ".join(repr(c) for c in allowed)
                )


def _build_section(klass: type, name: str, sec: dict[str, Any], source: str) -> Any:
    known = {f.name: f for f in fields(klass)}
    for key in sec:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key '{name}.{key}'; allowed keys in [{name}]: "
                + ", ".join(known)
            )
    kwargs = {}
    defaults = klass()
    for key, f in known.items():
        if key in sec:
            typ = type(getattr(defaults, key))
            kwargs[key] = _coerce(f, typ, sec[key], f"{source}: {name}.{key}")
    return klass(**kwargs)


def changed_keys(old: Config, new: Config) -> list[tuple[str, Any, Any]]:
    """List of (section.key, old, new) for every field that differs."""
    out = []
    for name in SECTIONS:
        a, b = getattr(old, name), getattr(new, name)
        for f in fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if va != vb:
                out.append((f"{name}.{f.name}", va, vb))
    return out


def structural_changes(old: Config, new: Config) -> list[str]:
    """Keys whose change needs a reset (``live`` is False)."""
    return [k for k, _, _ in changed_keys(old, new) if not field_meta(*k.split(".", 1))["live"]]


__all__ = [
    "Config",
    "ConfigError",
    "IMAGE_DATASETS",
    "DataConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "SamplerConfig",
    "BufferConfig",
    "OptimConfig",
    "TrainConfig",
    "ViewConfig",
    "SECTIONS",
    "changed_keys",
    "structural_changes",
    "field_meta",
]
