"""``ebm-studio tune``: a Ray Tune random search over settings, each trial scored by the exact
KL (or NLL) of its runs averaged over the seeds, with ASHA stopping the weak ones early.

Random search is Ray Tune's default searcher (BasicVariantGenerator): no Optuna dependency for a
search of a few continuous settings. A trial reports its metric at every ``train.eval_every``
steps and at its last step; ASHA compares trials at those steps (``step`` is its time).
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path
from typing import Any

from ..core.atomic import atomic_write_text
from ..core.config import Config
from ..core.overrides import parse_value
from .spec import SweepError, check_key, check_value, format_value, parse_range

DIVERGED = 1e9  # the score of a diverged trial: worse than any finite KL or NLL


def parse_params(items: list[str]) -> dict[str, tuple]:
    """``section.key=log:LO:HI`` (lin:, int:, or v1,v2,... for a choice) -> key: (kind, ...)."""
    if not items:
        raise SweepError("tune needs at least one --param section.key=log:LO:HI to search")
    space: dict[str, tuple] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not eq or not key or not text:
            raise SweepError(f"--param {item!r} is not of the form section.key=log:LO:HI")
        if key in space:
            raise SweepError(f"--param {key} is given twice")
        check_key(key)
        if text.split(":", 1)[0] in ("log", "lin", "int"):
            space[key] = parse_range(key, text)
        else:
            values = [parse_value(v.strip()) for v in text.split(",") if v.strip()]
            if len(values) < 2:
                raise SweepError(
                    f"--param {item!r}: give a range (log:LO:HI, lin:LO:HI, int:LO:HI) or at "
                    "least two values to choose from"
                )
            for v in values:
                check_value(key, v)
            space[key] = ("choice", values)
    return space


def search_space(space: dict[str, tuple]) -> dict[str, Any]:
    from ray import tune

    out = {}
    for key, (kind, *rest) in space.items():
        if kind == "log":
            out[key] = tune.loguniform(rest[0], rest[1])
        elif kind == "lin":
            out[key] = tune.uniform(rest[0], rest[1])
        elif kind == "int":
            out[key] = tune.randint(int(rest[0]), int(rest[1]) + 1)
        else:
            out[key] = tune.choice(rest[0])
    return out


def apply_params(base: Config, params: dict[str, Any]) -> Config:
    cfg = base
    for key, value in params.items():
        cfg = cfg.with_value(key, value)
    return cfg


def tune_trial(params: dict[str, Any], base: dict, seeds: list[int], metric: str) -> None:
    """One Tune trial: the runs of every seed in lock-step; the seed-mean metric reported at
    each evaluation step (what ASHA compares)."""
    import torch
    from ray import tune

    from ..core.trainer import Diverged, Trainer

    torch.set_num_threads(1)
    cfg = apply_params(Config.from_dict(base, source="tune"), params)
    trainers = [Trainer(cfg.with_value("train.seed", s)) for s in seeds]
    steps, every = cfg.train.steps, cfg.train.eval_every
    for step in range(1, steps + 1):
        try:
            for t in trainers:
                t.step()
        except Diverged:
            tune.report({metric: DIVERGED, "step": step, "diverged": 1})
            return
        if step % every == 0 or step == steps:
            values = [t.evaluate()[metric] for t in trainers]
            value = sum(values) / len(values)
            ok = math.isfinite(value)
            tune.report({metric: value if ok else DIVERGED, "step": step, "diverged": int(not ok)})
            if not ok:
                return


def run_tune(
    preset,
    base: Config,
    space: dict[str, tuple],
    seeds: list[int],
    *,
    trials: int,
    metric: str,
    out: Path,
    address: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Search ``space``; writes ``out/best.toml`` and ``out/trials.csv``; returns the best."""
    from .engine import check_address, require_ray, start_ray

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweepError(f"--out {out}: the folder is not empty; give a new or empty folder")
    require_ray()
    if address:
        check_address(address)
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    steps, every = base.train.steps, base.train.eval_every
    if every >= steps:
        raise SweepError(
            f"train.eval_every = {every} leaves ASHA nothing to compare before the last of "
            f"{steps} steps; set train.eval_every below train.steps (e.g. {max(1, steps // 8)})"
        )
    out.mkdir(parents=True, exist_ok=True)
    started = start_ray(address)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(tune_trial, base=base.to_dict(), seeds=seeds, metric=metric),
            {"cpu": 1},
        )
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(space),
            tune_config=tune.TuneConfig(
                metric=metric,
                mode="min",
                num_samples=trials,
                search_alg=BasicVariantGenerator(random_state=base.train.seed),
                scheduler=ASHAScheduler(
                    time_attr="step", max_t=steps, grace_period=every, reduction_factor=2
                ),
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str((out / "ray").resolve()),
                verbose=0,
                callbacks=[_Progress(trials, progress)],
            ),
        )
        results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    rows = trial_rows(results, list(space), metric, steps)
    atomic_write_text(out / "trials.csv", trials_csv(rows, list(space), metric))
    done = [r for r in rows if r["status"] != "error" and r[metric] is not None]
    if not done:
        raise SweepError(f"no tune trial finished; see {out / 'trials.csv'}")
    best = min(done, key=lambda r: (r["step"] < steps, r[metric]))
    params = {k: best[k] for k in space}
    write_best(out / "best.toml", preset, base, params, metric, best[metric], seeds)
    return {"params": params, "value": best[metric], "rows": rows}


def trial_rows(results, keys: list[str], metric: str, steps: int) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        m = r.metrics or {}
        step = int(m.get("step", 0))
        value = m.get(metric)
        if r.error is not None:
            status = "error"
        elif m.get("diverged"):
            status = "diverged"
        else:
            status = "complete" if step >= steps else "stopped early"
        row = {k: r.config.get(k) for k in keys}
        row.update({
            "trial": m.get("trial_id", ""), metric: value, "step": step, "status": status,
            "cause": "" if r.error is None else str(r.error).strip().splitlines()[0],
        })  # fmt: skip
        rows.append(row)
    return rows


def trials_csv(rows: list[dict[str, Any]], keys: list[str], metric: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["trial", *keys, metric, "step", "status", "cause"]
    w.writerow(cols)
    for r in sorted(rows, key=lambda r: (r[metric] is None, r[metric] or 0.0)):
        w.writerow(
            ["" if r[c] is None else format_value(r[c]) if c in keys else r[c] for c in cols]
        )
    return buf.getvalue()


def write_best(path: Path, preset, base: Config, params, metric, value, seeds) -> None:
    from ..core.presets import Preset, preset_to_toml

    shown = ", ".join(f"{k} = {format_value(v)}" for k, v in params.items())
    best = Preset(
        name="best",
        config=apply_params(base, params),
        description=f"{preset.name} tuned by ebm-studio tune: {shown}",
        explanation=(
            f"The trial with the lowest final {metric} ({value:.4g}, mean over seeds "
            f"{', '.join(map(str, seeds))}) of a random search with ASHA early stopping."
        ),
        hint="Run it over more seeds with ebm-studio sweep to see its spread.",
    )
    atomic_write_text(path, preset_to_toml(best))


class _Progress:
    """A progress bar over finished trials (a Tune callback). Tune pickles its callbacks with
    the experiment state, so the bar (which holds a stream) is made when the run sets up."""

    def __new__(cls, total: int, enabled: bool):
        from ray.tune import Callback

        class Bar(Callback):
            def __init__(self) -> None:
                self.bar = None

            def __getstate__(self):
                return {"bar": None}

            def setup(self, **info):
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="trials", unit="trial", file=sys.stderr,
                                disable=not enabled, dynamic_ncols=True)  # fmt: skip

            def on_trial_complete(self, iteration, trials, trial, **info):
                if self.bar is not None:
                    self.bar.update(1)

            def on_trial_error(self, iteration, trials, trial, **info):
                if self.bar is not None:
                    self.bar.update(1)

            def on_experiment_end(self, trials, **info):
                if self.bar is not None:
                    self.bar.close()

        return Bar()
