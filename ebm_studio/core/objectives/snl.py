"""Self-normalised likelihood (SNL): Senetaire, Jeha, Mattei & Frellsen, "Learning Energy-Based
Models by Self-normalising the Likelihood" (2025). Formulas: docs/algorithms.md, section 5.

``log z <= z e^{-b} + b - 1`` for every real ``b`` (the tangent of log at e^b), with equality at
``b = log z``. Applied to the normaliser, with ``Z`` replaced by its importance-sampling
estimate ``Z_hat = (1/M) sum_j exp(-E(y_j) - log q(y_j))``, ``y_j ~ q``:

    L(theta, b) = mean E(x) + b + exp(log Z_hat - b) - 1

``log Z_hat`` is a logsumexp, so the exponential only ever sees ``log Z_hat - b``, which is
near 0 once b has tracked log Z (b starts at an IS estimate). Minimising over b gives
``b = log Z_hat``: b is the run's log Z estimate. The theta-gradient is the maximum-likelihood
gradient with the model expectation replaced by self-normalised importance sampling, scaled by
``Z / e^b``.

Likelihood bounds reported each step (on the data batch x; "in expectation" is over the
proposal draws; they need q > 0 wherever p_theta has mass, i.e. for the uniform proposal they
bound the likelihood of the model restricted to the box, the same normaliser the grid uses):

- ``nll_upper`` = L itself. Z_hat is unbiased, so E[L] = mean E(x) + b + Z e^{-b} - 1
  >= mean E(x) + log Z = NLL(x), for every b: an upper bound on the NLL (a lower bound on the
  log-likelihood), tight when b = log Z.
- ``nll_lower`` = mean E(x) + log Z_hat. By Jensen E[log Z_hat] <= log Z, so this is a lower
  bound on the NLL in expectation (an upper bound on the log-likelihood).

So the batch NLL lies in [nll_lower, nll_upper] in expectation; the gap shrinks as the
proposal approaches p_theta and as M grows. ``log_z_is`` = log Z_hat and ``is_ess`` (the
effective sample size of the IS weights as a fraction of M) show how reliable both are.
"""

from __future__ import annotations

import math

import torch

from ..config import Config
from ..flows import RealNVP, shared_flow
from .base import Context, Objective
from .nce import INIT_SAMPLES, Noise, importance_log_z


class SNLObjective(Objective):
    """SNL with a Gaussian-fitted, uniform-on-the-box or flow proposal (live), M samples."""

    name = "snl"

    def __init__(self, ctx: Context, cfg: Config) -> None:
        super().__init__(ctx, cfg)
        self._fixed: dict[str, Noise] = {}
        self.flow: RealNVP | None = None
        self.b = torch.zeros((), device=ctx.device, requires_grad=True)
        with torch.no_grad():
            m = max(INIT_SAMPLES, cfg.objective.proposal_samples)
            self.b.fill_(importance_log_z(self.energy, self._sample_proposal, m, ctx.gen))

    # -- the proposal --------------------------------------------------------------------
    def _proposal_flow(self) -> RealNVP:
        if self.flow is None:
            # The FCE objective's flow when one exists; else a new one, ML-pretrained for
            # objective.flow_pretrain steps.
            o = self.cfg.objective
            self.flow = shared_flow(self.ctx, o.flow_layers, o.flow_pretrain)
        return self.flow

    @torch.no_grad()
    def proposal_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log q(x) of the current proposal (for display and for the IS weights)."""
        kind = self.cfg.objective.proposal
        if kind == "flow":
            return self._proposal_flow().log_prob(x)
        return self._fixed_noise(kind).log_prob(x)

    def _fixed_noise(self, kind: str) -> Noise:
        if kind not in self._fixed:
            self._fixed[kind] = Noise(kind, self.ctx, self.cfg)
        return self._fixed[kind]

    @torch.no_grad()
    def _sample_proposal(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        kind = self.cfg.objective.proposal
        if kind == "flow":
            return self._proposal_flow().sample_with_log_prob(n, gen)
        y = self._fixed_noise(kind).sample(n, gen)
        return y, self.proposal_log_prob(y)

    # -- the objective -------------------------------------------------------------------
    def extra_parameters(self) -> list[torch.Tensor]:
        return [self.b]

    def log_z_estimate(self) -> float | None:
        return self.b.item()

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        m = self.cfg.objective.proposal_samples
        y, log_q = self._sample_proposal(m, self.ctx.gen)
        e_x, e_y = self.energy(x), self.energy(y)
        log_w = -e_y - log_q
        log_z_hat = torch.logsumexp(log_w, 0) - math.log(m)
        ratio = torch.exp(log_z_hat - self.b)  # Z_hat / e^b, near 1 once b tracks log Z
        loss = e_x.mean() + self.b + ratio - 1
        with torch.no_grad():
            w = torch.softmax(log_w.double(), 0)
            ess = float(1.0 / (w**2).sum()) / m
        parts = {
            "loss": loss.item(),
            "e_pos": e_x.mean().item(),
            "e_neg": e_y.mean().item(),
            "log_z": self.b.item(),
            "log_z_is": log_z_hat.item(),
            "is_ess": ess,
            "nll_upper": loss.item(),
            "nll_lower": (e_x.mean() + log_z_hat).item(),
        }
        return loss, parts

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {"b": self.b.detach().clone()}
        if self.flow is not None:
            out.update({f"flow.{k}": v.detach().clone() for k, v in self.flow.state_dict().items()})
        return out

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        if "b" in d:
            with torch.no_grad():
                self.b.copy_(d["b"].to(self.b))
        flow_sd = {k[5:]: v for k, v in d.items() if k.startswith("flow.")}
        if flow_sd:
            self._proposal_flow().load_state_dict(flow_sd)


__all__ = ["SNLObjective"]
