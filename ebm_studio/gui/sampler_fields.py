"""Which [sampler] fields matter to the configured sampler: the settings panel hides the
others, as it hides the objective fields an objective does not use (all stay in the config
and in saved presets).

Read off ``core/samplers.py``: MALA's noise is always sqrt(2 eta T) and its proposals are not
clamped; random-walk MH uses no gradient; only Langevin has a decoupled noise; the ladder is
parallel tempering's and the leapfrog count HMC's (``core/tempering.py``).
"""

from __future__ import annotations

from ..core.config import Config

# field -> the samplers that read it; a field not listed matters to every sampler.
SAMPLER_FIELDS = {
    "noise_mode": {"langevin"},
    "noise": {"langevin"},
    "grad_clamp": {"langevin", "mala", "pt", "hmc"},
    "clamp_box": {"langevin", "rwmh"},
    "adapt": {"mala"},
    "target_accept": {"mala"},
    "pt_replicas": {"pt"},
    "pt_top_temp": {"pt"},
    "pt_move": {"pt"},
    "hmc_leapfrog": {"hmc"},
}
# field -> (field, values) it also depends on: shown only while that field has such a value.
SAMPLER_CONDITIONS = {
    "noise": ("noise_mode", {"decoupled"}),
    "target_accept": ("adapt", {True}),
    "augment_every": ("augment", {"rotation", "reflection", "warp", "jump"}),
    "augment_on_draw": ("augment", {"rotation", "reflection", "warp", "jump"}),
    "augment_mh": ("augment", {"rotation", "reflection", "warp", "jump"}),
}


def sampler_field_visible(name: str, config: Config) -> bool:
    """Whether ``sampler.<name>`` matters to the configured sampler and its settings."""
    s = config.sampler
    users = SAMPLER_FIELDS.get(name)
    if users is not None and s.kind not in users:
        return False
    cond = SAMPLER_CONDITIONS.get(name)
    return cond is None or getattr(s, cond[0]) in cond[1]


__all__ = ["SAMPLER_CONDITIONS", "SAMPLER_FIELDS", "sampler_field_visible"]
