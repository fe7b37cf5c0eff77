"""The files a headless run leaves in its folder (``ebm-studio train``, a sweep's trials)."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_write_text
from .checkpoint import save_checkpoint
from .figures import write_run_figures
from .history import metrics_csv
from .presets import config_to_toml

RUN_FILES = (
    "config.toml",
    "metrics.csv",
    "checkpoint.safetensors",
    "landscape.png",
    "samples.png",
)


def write_run_outputs(trainer, out: str | Path, *, samples: int = 20000) -> None:
    """``RUN_FILES`` into ``out`` (created if needed), each written atomically; image runs
    have no landscape.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.toml", config_to_toml(trainer.config))
    atomic_write_text(out / "metrics.csv", metrics_csv(trainer.history))
    save_checkpoint(trainer, out / "checkpoint.safetensors")
    if getattr(trainer, "is_2d", True):
        write_run_figures(trainer, out, samples)
    else:  # images: no landscape; samples.png shows data and chains as pictures
        from .image_outputs import write_image_figures

        write_image_figures(trainer, out)


__all__ = ["RUN_FILES", "write_run_outputs"]
