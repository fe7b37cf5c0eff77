"""``ebm_studio.studio(energy_or_path)``: open the studio on a checkpoint or on one's own 2D
energy from Python (docs/api.md).

A user's energy (any callable or ``nn.Module`` mapping (N, 2) points to (N,) energies) is
written into the studio's MLP by regression on the exact grid, as composed energies are
(``core.compose.distil``): the fit is reported as the KL between the energy's grid density and
the distilled one, and the run's data set is drawn exactly from the energy's grid density. The
studio then samples, trains and exports it like any other checkpoint.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from .core.compose import ComposeError, distil, measure
from .core.config import Config

DEFAULT_BOX = 4.0
DEFAULT_PRESET = "buffer-ml"


def as_grid_energy(energy: Callable[[torch.Tensor], torch.Tensor]):
    """The user's energy as the grid code calls it: float64 (M, 2) in, float64 (M,) out, no
    autograd graph. Checks the shape once; raises ComposeError with one sentence."""
    dtype = torch.float32
    if isinstance(energy, torch.nn.Module):
        p = next(iter(energy.parameters()), None)
        dtype = p.dtype if p is not None else dtype
    elif not callable(energy):
        raise ComposeError(
            f"studio() takes a checkpoint path or a callable energy, not {type(energy).__name__}"
        )

    def f(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            e = energy(x.to(dtype))
        if not isinstance(e, torch.Tensor) or e.reshape(-1).shape[0] != x.shape[0]:
            shape = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
            raise ComposeError(
                f"the energy must map points of shape (N, 2) to energies of shape (N,); "
                f"for N = {x.shape[0]} it returned {shape}"
            )
        return e.reshape(-1).double()

    f(torch.zeros(3, 2, dtype=torch.float64))
    return f


def energy_to_checkpoint(
    energy: Callable[[torch.Tensor], torch.Tensor],
    out: str | os.PathLike,
    *,
    box: float = DEFAULT_BOX,
    steps: int = 2000,
    config: Config | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Distil a user's 2D ``energy`` on [-box, box]^2 into a studio checkpoint at ``out``.
    Returns its grid log Z and the distillation KL (nats)."""
    from .core.checkpoint import save_checkpoint
    from .core.presets import load_preset

    f = as_grid_energy(energy)
    m = measure(f, None, box, 160)  # refuses an energy with no finite normaliser on the box
    base = config or load_preset(DEFAULT_PRESET).config
    trainer, kl = distil(f, base, box, steps=steps, progress=progress)
    save_checkpoint(trainer, out)
    return {"log_z": m.log_z, "distil_kl": kl}


def studio(
    energy_or_path,
    *,
    box: float = DEFAULT_BOX,
    distil_steps: int = 2000,
    block: bool = True,
    **window_kwargs,
):
    """Open the studio on a checkpoint path or on a 2D energy (callable or ``nn.Module``).

    With ``block`` (a script) the Qt event loop runs until the window closes; with
    ``block=False`` (a notebook with ``%gui qt``) the window is returned at once."""
    from tqdm import tqdm

    from .gui.from_python import open_checkpoint_window

    if isinstance(energy_or_path, (str, os.PathLike)):
        return open_checkpoint_window(energy_or_path, block=block, **window_kwargs)
    if not (isinstance(box, (int, float)) and math.isfinite(box) and box > 0):
        raise ComposeError(f"box = {box!r} must be a positive number (half-width of the view)")
    out = Path(tempfile.mkdtemp(prefix="ebm-studio-energy-")) / "energy.safetensors"
    with tqdm(total=distil_steps, desc="fitting the energy", unit="step") as bar:
        fit = energy_to_checkpoint(
            energy_or_path, out, box=box, steps=distil_steps, progress=lambda i: bar.update(1)
        )
    print(f"energy written into the studio's MLP: KL {fit['distil_kl']:.4f} nats ({out})")
    window_kwargs.setdefault("title", f"{type(energy_or_path).__name__} energy")
    return open_checkpoint_window(out, block=block, **window_kwargs)


__all__ = ["as_grid_energy", "energy_to_checkpoint", "studio"]
