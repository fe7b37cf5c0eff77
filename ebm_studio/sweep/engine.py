"""Run a sweep's trials on Ray: a local Ray by default, an existing cluster with ``address``.

Each trial is one Ray task of one CPU. The driver keeps at most ``max_parallel`` in flight,
writes each trial's files and result as it finishes (so an interruption loses only the trials
in flight), and retries a trial once when its worker process dies.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .results import is_complete, read_record, write_tables, write_trial
from .spec import SweepError, SweepSpec, Trial, check_out_dir

RETRIES = 1  # extra attempts after a worker died (a crash, a killed process, a lost node)


def require_ray():
    try:
        import ray
    except ImportError:
        raise SweepError(
            "Ray is not installed; install the sweep extra: pip install -e '.[sweep]'"
        ) from None
    return ray


def check_address(address: str) -> None:
    """Fail fast with one sentence when ``host:port`` does not answer (ray.init would wait)."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise SweepError(f"--address {address!r} is not of the form HOST:PORT (or auto)")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as e:
        raise SweepError(
            f"--address {address}: no Ray cluster answers there ({e.strerror or e}); start one "
            "with `ray start --head` or leave --address out for a local Ray"
        ) from None


def start_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to (``address``) or start a local Ray; True when this call started it."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    if address:
        check_address(address)
        ray.init(address=address, log_to_driver=False)
    else:
        # address="local": always a new Ray of our own, never one that another program on this
        # machine started (plain ray.init() would join it).
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
    return True


def pending_trials(spec: SweepSpec, out: Path) -> list[Trial]:
    return [t for t in spec.trials() if not is_complete(read_record(out, t.id))]


def run_sweep(
    spec: SweepSpec,
    out: Path,
    *,
    address: str | None = None,
    max_parallel: int | None = None,
    progress: bool = True,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, dict | None]:
    """Run every incomplete trial of ``spec`` into ``out``; returns all records by id."""
    import json

    from ..core.atomic import atomic_write_text

    resuming = check_out_dir(out, spec)
    ray = require_ray()
    todo = pending_trials(spec, out) if resuming else spec.trials()
    keys = [k for k, _ in spec.grids]
    started = start_ray(address, num_cpus=max_parallel if not address else None)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not resuming:
            atomic_write_text(out / "sweep.json", json.dumps(spec.manifest(), indent=1))
        write_tables(out, keys, spec.trials())
        _run(ray, spec, out, todo, max_parallel, progress, on_done)
    finally:
        if started:
            ray.shutdown()
    records = write_tables(out, keys, spec.trials())
    from .plots import write_sweep_figures

    write_sweep_figures(out, spec, records)
    return records


def _run(ray, spec, out, todo, max_parallel, progress, on_done) -> None:
    from tqdm import tqdm

    from .trial import run_trial

    remote = ray.remote(num_cpus=1, max_retries=0)(run_trial)
    limit = max_parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))
    total = len(spec.trials())
    bar = tqdm(
        total=total,
        initial=total - len(todo),
        desc="trials",
        unit="trial",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    queue = list(todo)
    attempts: dict[str, int] = {}
    flight: dict[Any, Trial] = {}
    keys = [k for k, _ in spec.grids]
    try:
        while queue or flight:
            while queue and len(flight) < limit:
                t = queue.pop(0)
                attempts[t.id] = attempts.get(t.id, 0) + 1
                flight[remote.remote(t.config(spec.base).to_dict(), spec.preset)] = t
            ready, _ = ray.wait(list(flight), num_returns=1)
            t = flight.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                if _worker_died(ray, e) and attempts[t.id] <= RETRIES:
                    queue.insert(0, t)
                    continue
                cause = f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"
                result = {"status": "failed", "cause": cause, "metrics": {}, "wall_s": float("nan")}
            record = write_trial(out, t, result, attempts[t.id])
            write_tables(out, keys, spec.trials())
            bar.update(1)
            if record["status"] != "ok":
                bar.write(
                    f"trial {t.id} ({t.setting()} seed {t.seed}): {record['status']}: "
                    f"{record['cause'][:200]}"
                )
            if on_done is not None:
                on_done(record)
    finally:
        bar.close()
        for ref in flight:
            ray.cancel(ref, force=True)


def _worker_died(ray, e: Exception) -> bool:
    ex = ray.exceptions
    died = (ex.WorkerCrashedError, ex.NodeDiedError, ex.ObjectLostError)
    return isinstance(e, died)
