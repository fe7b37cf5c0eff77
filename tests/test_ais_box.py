"""AIS over the box [-b, b]^D (clamped image runs): a Gaussian cut by the box has a
closed-form log Z, and an energy that falls without bound outside the box gets a finite one."""

from __future__ import annotations

import math

import torch

from ebm_studio.core.ais import ais_log_z


def test_ais_over_the_box_recovers_a_truncated_gaussians_log_normaliser_in_64_dims():
    gen = torch.Generator().manual_seed(0)
    m = torch.rand(1, 8, 8, generator=gen) - 0.5  # means up to half way to the edge
    s = 0.3  # so the box cuts off up to 5% of a coordinate's mass

    def energy(x):
        # A Gaussian inside; outside the box it falls without bound along +x (Z over R^64
        # would be infinite): only the box gives a number.
        q = ((x - m) ** 2 / (2 * s**2)).reshape(len(x), -1).sum(-1)
        out = (x - x.clamp(-1, 1)).reshape(len(x), -1).sum(-1)
        return q - 50 * out.clamp(min=0)

    def phi(z):
        return 0.5 * (1 + torch.special.erf(z / math.sqrt(2)))

    exact = float(
        torch.log(math.sqrt(2 * math.pi) * s * (phi((1 - m) / s) - phi((-1 - m) / s))).sum()
    )
    res = ais_log_z(energy, (1, 8, 8), gen, n_chains=128, n_temps=1000, base_std=0.5, box=1.0)
    print(f"box AIS: {res.log_z:.3f} +- {res.se:.3f}, exact {exact:.3f}, ess {res.ess:.2f}")
    assert abs(res.log_z - exact) < 3 * res.se + 0.05  # 0.05: what the schedule may leave
    assert res.se < 0.5  # informative, not a wide interval that covers anything
