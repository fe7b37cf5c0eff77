"""One trial: the code path of ``ebm-studio train`` in a Ray worker, its files returned as bytes.

The files travel back to the driver, which writes them under ``DIR/trials/<id>/``: nodes of a
cluster need no shared file system.
"""

from __future__ import annotations

import math
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

METRICS = ("kl", "nll", "log_z_error", "log_z_grid", "mmd")


def run_trial(config: dict[str, Any], preset: str = "") -> dict[str, Any]:
    """Train ``config`` (a ``Config.to_dict()``) like ``ebm-studio train`` and return
    ``{"status", "cause", "metrics", "step", "wall_s", "files"}``. Never raises for a run that
    fails: a divergence or an exception is the trial's status and cause. For an experiment
    ``preset`` the metrics include its claim's measurements (``core.claims``)."""
    import torch

    from ..core.checkpoint import save_checkpoint
    from ..core.claims import claim_metrics
    from ..core.config import Config
    from ..core.outputs import write_run_outputs
    from ..core.trainer import Diverged, Trainer

    torch.set_num_threads(1)  # one core per trial: trials are the parallelism
    t0 = time.perf_counter()
    status, cause, metrics, step = "ok", "", {}, 0
    with tempfile.TemporaryDirectory(prefix="ebm-trial-") as tmp:
        out = Path(tmp)
        try:
            cfg = Config.from_dict(config, source="trial")
            trainer = Trainer(cfg)
            try:
                for _ in range(cfg.train.steps):
                    trainer.step()
            except Diverged as d:
                save_checkpoint(trainer, out / "checkpoint.safetensors")
                status, cause, step = "diverged", str(d), trainer.step_count
            else:
                final = trainer.evaluate()
                trainer.history.append({"step": float(trainer.step_count), **final})
                write_run_outputs(trainer, out)
                step = trainer.step_count
                metrics = {k: float(final[k]) for k in METRICS if k in final}
                metrics |= claim_metrics(preset, trainer)
                bad = [k for k, v in metrics.items() if not math.isfinite(v)]
                if bad:
                    status, cause = "diverged", f"final {bad[0]} is not finite"
        except Exception as e:  # the trial fails, the sweep goes on
            status = "failed"
            last = traceback.format_exception_only(e)[-1].strip()
            cause = last
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    return {
        "status": status,
        "cause": cause,
        "metrics": metrics,
        "step": step,
        "wall_s": time.perf_counter() - t0,
        "node": _node_id(),
        "files": files,
    }


def _node_id() -> str:
    """The Ray node that ran the trial ('' outside Ray): which machine of a cluster it used."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except ImportError:
        return ""
