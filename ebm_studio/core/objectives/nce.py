"""Noise contrastive estimation (NCE; Gutmann & Hyvarinen 2010) and flow contrastive estimation
(FCE; Gao et al. 2020). Formulas and sources: docs/algorithms.md, section 3.

NCE trains a classifier between data and ``nu`` times as many noise samples from a known
density ``q``; the classifier's logit is built from the EBM and a learned scalar ``c`` (the
log Z estimate):

    G(x) = -E(x) - c - log q(x) - log nu
    L = -mean_data logsigmoid(G) - nu * mean_noise logsigmoid(-G)

At the optimum ``exp(-E - c) = p_data`` and ``c = log Z`` (Gutmann & Hyvarinen 2010). Logsigmoid
keeps the loss finite for any energy: no log of a sigmoid is ever formed.

FCE (Gao et al. 2020) makes ``q`` a RealNVP flow trained adversarially: the EBM and ``c``
minimise L (the trainer's step), then the flow takes one Adam step (its own optimizer, lr
``flow_lr``) to *maximise* L with the EBM and ``c`` held fixed, backpropagating through its
reparameterised samples and through log q of the data and noise.

Switching rule (ours, in the spirit of Gao et al., who keep the players balanced by watching
the classification accuracy): the EBM steps every iteration; the flow steps only when the
density-ratio test "model density above flow density" tells that iteration's data from its
noise with a balanced accuracy (``ratio_accuracy``) above 0.5 + ``FLOW_UPDATE_ACCURACY``. When
the flow already fools the classifier it waits, so the EBM can catch up instead of chasing a
moving target. At nu = 1 this is the plain accuracy against chance 0.5; for nu > 1 the plain
accuracy is no guide: answering "noise" everywhere already scores nu / (1 + nu), and at nu = 4
it stays within 0.01 of that while the flow and the EBM still differ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import Config
from ..flows import RealNVP, load_optimizer_tensors, optimizer_tensors, shared_flow
from .base import Context, Objective

# The flow updates while the density-ratio test beats chance (0.5 balanced) by more than this.
FLOW_UPDATE_ACCURACY = 0.05
# Samples used for the importance-sampling estimate that initialises c.
INIT_SAMPLES = 4096
# The "kde" noise: at most this many training points as kernel centres (its log q costs one
# distance per centre per point), and this share of uniform noise on the box, so that every
# region the EBM could put spurious mass in still sees noise samples.
KDE_CENTRES = 256
KDE_UNIFORM_SHARE = 0.2


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, L L^T) for x of shape (N, *event), mean (D,), L (D, D), D = prod(event)."""
    d = mean.shape[0]
    xf = x.reshape(len(x), d)
    u = torch.linalg.solve_triangular(chol, (xf - mean).T, upper=False).T
    log_norm = 0.5 * d * math.log(2 * math.pi)
    return -0.5 * (u**2).sum(-1) - log_norm - torch.log(chol.diagonal()).sum()


class Noise:
    """A fixed noise/proposal density with exact ``log_prob`` and ``sample(n, gen)``.

    ``kind``: ``gaussian`` (fitted to the data), ``uniform`` (on the box; log q = -inf outside),
    ``custom`` (isotropic Gaussian at (noise_x, noise_y) with std noise_std; 2D only) or ``kde``
    (a kernel density estimate of the training data, mixed with uniform noise on the box; 2D
    only). Any event shape for the others: the Gaussian is fitted to the flattened data
    (ctx.data_mean, data_cov).

    The kde noise follows the data wherever it goes (many modes, curves, corners), so the
    classifier's task stays hard everywhere and the EBM learns the fine structure that a
    single Gaussian leaves to chance; its kernels are Gaussians of bandwidth h_i = std_i *
    K^(-1/6) per axis (Scott's rule in 2D) at K evenly spaced training points.
    """

    def __init__(self, kind: str, ctx: Context, cfg: Config) -> None:
        self.kind, self.box = kind, ctx.box
        self.shape = tuple(ctx.data.shape[1:])
        o = cfg.objective
        dev = ctx.device
        if kind in ("custom", "kde") and self.shape != (2,):
            raise ValueError(
                f"noise '{kind}' is for 2D data; for data of shape {self.shape} use "
                f"'gaussian' or 'uniform'"
            )
        if kind == "kde":
            data = ctx.data.detach().float()
            self.centres = data[:: max(1, len(data) // KDE_CENTRES)][:KDE_CENTRES]
            k = len(self.centres)
            self.bandwidth = data.std(0).clamp_min(1e-3) * k ** (-1 / 6)
            # Centres in bandwidth units, their squared norms, and the constant of
            # log((1 - share) / K * sum_k N(x; x_k, diag(h^2))), fixed for the run.
            self._scaled = self.centres / self.bandwidth
            self._scaled_sq = (self._scaled * self._scaled).sum(1)
            log_norm = math.log(2 * math.pi) + float(torch.log(self.bandwidth).sum())
            self._kde_const = math.log(1 - KDE_UNIFORM_SHARE) - math.log(k) - log_norm
        elif kind == "gaussian":
            self.mean = ctx.data_mean.detach().float()
            self.chol = torch.linalg.cholesky(ctx.data_cov.detach().double()).float()
        elif kind == "custom":
            self.mean = torch.tensor([o.noise_x, o.noise_y], device=dev)
            self.chol = o.noise_std * torch.eye(2, device=dev)
        elif kind != "uniform":
            raise ValueError(f"unknown noise '{kind}'")

    def _uniform_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        inside = (x.abs() <= self.box).reshape(len(x), -1).all(-1)
        d = math.prod(self.shape)
        return torch.where(inside, -d * math.log(2 * self.box), -math.inf).to(x.dtype)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "uniform":
            return self._uniform_log_prob(x)
        if self.kind == "kde":
            # Squared distances in bandwidth units as one matrix product (4x faster than
            # broadcasting the differences).
            xs = x / self.bandwidth
            d2 = (xs * xs).sum(1, keepdim=True) - 2 * xs @ self._scaled.T + self._scaled_sq
            return torch.logaddexp(
                torch.logsumexp(-0.5 * d2.clamp_min(0), 1) + self._kde_const,
                self._uniform_log_prob(x) + math.log(KDE_UNIFORM_SHARE),
            )
        return gaussian_log_prob(x, self.mean, self.chol)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        dev = gen.device
        if self.kind == "uniform":
            return (2 * torch.rand(n, *self.shape, generator=gen, device=dev) - 1) * self.box
        if self.kind == "kde":
            pick = torch.randint(len(self.centres), (n,), generator=gen, device=dev)
            kde = self.centres[pick] + self.bandwidth * torch.randn(n, 2, generator=gen, device=dev)
            flat = (2 * torch.rand(n, 2, generator=gen, device=dev) - 1) * self.box
            uniform = torch.rand(n, generator=gen, device=dev) < KDE_UNIFORM_SHARE
            return torch.where(uniform[:, None], flat, kde)
        z = torch.randn(n, self.mean.shape[0], generator=gen, device=dev)
        return (self.mean + z @ self.chol.T).reshape(n, *self.shape)


@torch.no_grad()
def importance_log_z(energy, sample_and_log_q, n: int, gen: torch.Generator) -> float:
    """log of the importance-sampling estimate mean_j exp(-E(y_j) - log q(y_j)), y_j ~ q."""
    y, log_q = sample_and_log_q(n, gen)
    w = -energy(y) - log_q
    return float(torch.logsumexp(w.double(), 0) - math.log(n))


def nce_loss(
    e_data: torch.Tensor,
    e_noise: torch.Tensor,
    log_q_data: torch.Tensor,
    log_q_noise: torch.Tensor,
    c: torch.Tensor,
    nu: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, logits on data, logits on noise) of NCE with noise ratio ``nu``."""
    log_nu = math.log(nu)
    g_data = -e_data - c - log_q_data - log_nu
    g_noise = -e_noise - c - log_q_noise - log_nu
    loss = -F.logsigmoid(g_data).mean() - nu * F.logsigmoid(-g_noise).mean()
    return loss, g_data, g_noise


def _accuracy(g_data: torch.Tensor, g_noise: torch.Tensor) -> float:
    correct = (g_data > 0).sum() + (g_noise < 0).sum()
    return float(correct) / (len(g_data) + len(g_noise))


def ratio_accuracy(g_data: torch.Tensor, g_noise: torch.Tensor, nu: float) -> float:
    """Balanced accuracy of the density-ratio test "model density above noise density"
    (``g + log nu > 0``): each class's share classified right, averaged. It is 0.5 when the
    noise cannot be told from the model whatever ``nu`` is, where the plain accuracy's
    "always noise" answer already scores ``nu / (1 + nu)``. At nu = 1 it is the accuracy."""
    log_nu = math.log(nu)
    right_data = (g_data + log_nu > 0).double().mean()
    right_noise = (g_noise + log_nu < 0).double().mean()
    return float(0.5 * (right_data + right_noise))


class NCEObjective(Objective):
    """NCE with a fixed noise density (live: noise kind, nu, custom Gaussian)."""

    name = "nce"

    def __init__(self, ctx: Context, cfg: Config) -> None:
        super().__init__(ctx, cfg)
        self._noise: Noise | None = None
        self._noise_key: tuple | None = None
        self.c = torch.zeros((), device=ctx.device, requires_grad=True)
        with torch.no_grad():
            # Start c at an importance-sampling estimate of the current network's log Z (a
            # sensible value also when the user switches to NCE mid-run).
            self.c.fill_(importance_log_z(self.energy, self._sample_noise, INIT_SAMPLES, ctx.gen))

    # -- the noise density -------------------------------------------------------------
    def noise(self) -> Noise:
        o = self.cfg.objective
        key = (o.noise, o.noise_x, o.noise_y, o.noise_std)
        if key != self._noise_key:
            self._noise, self._noise_key = Noise(o.noise, self.ctx, self.cfg), key
        assert self._noise is not None
        return self._noise

    def _sample_noise(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.noise().sample(n, gen)
        return y, self.noise_log_prob(y)

    def noise_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log q(x) of the current noise (for display and for the loss)."""
        return self.noise().log_prob(x)

    # -- the objective -----------------------------------------------------------------
    def extra_parameters(self) -> list[torch.Tensor]:
        return [self.c]

    def log_z_estimate(self) -> float | None:
        return self.c.item()

    def n_noise(self, batch: int) -> int:
        return max(1, round(self.cfg.objective.nu * batch))

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        nu = self.cfg.objective.nu
        with torch.no_grad():
            y, log_q_y = self._sample_noise(self.n_noise(len(x)), self.ctx.gen)
            log_q_x = self.noise_log_prob(x)
        e_x, e_y = self.energy(x), self.energy(y)
        loss, g_x, g_y = nce_loss(e_x, e_y, log_q_x, log_q_y, self.c, nu)
        parts = {
            "loss": loss.item(),
            "e_pos": e_x.mean().item(),
            "e_neg": e_y.mean().item(),
            "log_z": self.c.item(),
            "accuracy": _accuracy(g_x, g_y),
            **self._classifier_parts(g_x.detach(), g_y.detach(), nu),
        }
        return loss, parts

    def _classifier_parts(self, g_x: torch.Tensor, g_y: torch.Tensor, nu: float) -> dict:
        return {}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"c": self.c.detach().clone()}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        if "c" in d:
            with torch.no_grad():
                self.c.copy_(d["c"].to(self.c))


class FCEObjective(NCEObjective):
    """NCE whose noise is a RealNVP flow trained to maximise the NCE loss."""

    name = "fce"

    def __init__(self, ctx: Context, cfg: Config) -> None:
        o = cfg.objective
        self.flow: RealNVP = shared_flow(ctx, o.flow_layers, o.flow_pretrain)
        self.flow_opt = torch.optim.Adam(self.flow.parameters(), lr=o.flow_lr)
        self._last_x: torch.Tensor | None = None
        self._last_ratio_accuracy = 0.0
        self.flow_steps = 0
        super().__init__(ctx, cfg)

    def apply_config(self, cfg: Config) -> None:
        super().apply_config(cfg)
        for g in self.flow_opt.param_groups:
            g["lr"] = cfg.objective.flow_lr
        # flow_layers is read at creation; changing it needs a new FCE objective (reset).

    def _sample_noise(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return self.flow.sample_with_log_prob(n, gen)

    def noise_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.flow.log_prob(x)

    def flow_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The flow's exact log density (for display: it integrates to 1)."""
        return self.noise_log_prob(x)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss, parts = super().loss(x)
        self._last_x = x.detach()
        self._last_ratio_accuracy = parts["ratio_accuracy"]
        return loss, parts

    def _classifier_parts(self, g_x: torch.Tensor, g_y: torch.Tensor, nu: float) -> dict:
        return {"ratio_accuracy": ratio_accuracy(g_x, g_y, nu)}

    def flow_should_step(self) -> bool:
        return self._last_ratio_accuracy > 0.5 + FLOW_UPDATE_ACCURACY

    def after_step(self) -> dict[str, float]:
        """The flow's adversarial step: gradient ascent on the NCE loss, EBM and c fixed."""
        if self._last_x is None:
            return {}
        if not self.flow_should_step():
            return {"flow_step": 0.0}
        x, nu = self._last_x, self.cfg.objective.nu
        y, log_q_y = self.flow.sample_with_log_prob(self.n_noise(len(x)), self.ctx.gen)
        log_q_x = self.flow.log_prob(x)
        with torch.no_grad():
            e_x = self.energy(x)  # the data term depends on the flow only through log q(x)
        e_y = self.energy(y)  # differentiated w.r.t. y only (autograd.grad below)
        loss, _, _ = nce_loss(e_x, e_y, log_q_x, log_q_y, self.c.detach(), nu)
        params = list(self.flow.parameters())
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = -g  # ascent: the flow makes the classification as hard as possible
        self.flow_opt.step()
        self.flow_steps += 1
        return {"flow_step": 1.0, "flow_loss": loss.item()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = super().state_dict()
        out.update({f"flow.{k}": v.detach().clone() for k, v in self.flow.state_dict().items()})
        out.update(optimizer_tensors(self.flow_opt, "flow_opt"))
        out["last_ratio_accuracy"] = torch.tensor(self._last_ratio_accuracy, dtype=torch.float64)
        out["flow_steps"] = torch.tensor(self.flow_steps, dtype=torch.int64)
        if self._last_x is not None:
            out["last_x"] = self._last_x.clone()
        return out

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        super().load_state_dict(d)
        flow_sd = {k[5:]: v for k, v in d.items() if k.startswith("flow.")}
        if flow_sd:
            self.flow.load_state_dict(flow_sd)
            load_optimizer_tensors(self.flow_opt, "flow_opt", d, self.ctx.device)
        # "last_accuracy": checkpoints from before the ratio test (the same value at nu = 1)
        for key in ("last_ratio_accuracy", "last_accuracy"):
            if key in d:
                self._last_ratio_accuracy = float(d[key])
                break
        if "flow_steps" in d:
            self.flow_steps = int(d["flow_steps"])
        self._last_x = d["last_x"].to(self.ctx.device) if "last_x" in d else None


def build(name: str, ctx: Context, cfg: Config) -> Objective:
    """``nce`` or ``fce``."""
    if name == "nce":
        return NCEObjective(ctx, cfg)
    if name == "fce":
        return FCEObjective(ctx, cfg)
    raise ValueError(f"unknown NCE-family objective '{name}'")


__all__ = ["NCEObjective", "FCEObjective", "Noise", "nce_loss", "importance_log_z", "build"]
