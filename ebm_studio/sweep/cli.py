"""``ebm-studio sweep`` and ``ebm-studio tune`` (registered by ``ebm_studio.cli``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .spec import SweepError


def base_config(preset: str, sets: list[str] | None, steps: int | None):
    from ..core.config import ConfigError
    from ..core.overrides import parse_assignments
    from ..core.presets import load_preset

    p = load_preset(preset)
    cfg = p.config
    try:
        for key, value in parse_assignments(sets or []):
            cfg = cfg.with_value(key, value)
    except ConfigError as e:
        raise SweepError(f"--set: {e}") from None
    if steps is not None:
        if steps < 1:
            raise SweepError(f"--steps {steps} is not allowed; expected a positive integer")
        cfg = cfg.with_value("train.steps", steps)
    return p, cfg


def positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise SweepError(f"{name} {value} is not allowed; expected a positive integer")


def cmd_sweep(args: argparse.Namespace) -> int:
    from .engine import check_address, require_ray, run_sweep
    from .spec import build_spec, check_out_dir, parse_seeds

    positive("--max-parallel", args.max_parallel)
    preset, cfg = base_config(args.preset, args.set, args.steps)
    seeds = parse_seeds(args.seeds)
    spec = build_spec(cfg, args.grid or [], seeds, preset=str(args.preset))
    out = Path(args.out)
    check_out_dir(out, spec)  # before Ray starts: a refused folder starts nothing
    require_ray()
    if args.address:
        check_address(args.address)
    records = run_sweep(spec, out, address=args.address, max_parallel=args.max_parallel)
    counts: dict[str, int] = {}
    for r in records.values():
        s = (r or {}).get("status", "pending")
        counts[s] = counts.get(s, 0) + 1
    done = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"{len(records)} trials: {done}; wrote {out / 'sweep.csv'}, {out / 'summary.csv'}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .spec import parse_seeds
    from .tuning import parse_params, run_tune

    positive("--trials", args.trials)
    preset, cfg = base_config(args.preset, args.set, args.steps)
    space = parse_params(args.param or [])
    seeds = parse_seeds(args.seeds)
    out = Path(args.out)
    best = run_tune(
        preset,
        cfg,
        space,
        seeds,
        trials=args.trials,
        metric=args.metric,
        out=out,
        address=args.address,
    )
    shown = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items()
    )
    print(f"best {args.metric} {best['value']:.4f} with {shown}; wrote {out / 'best.toml'}")
    return 0


def add_parsers(sub) -> None:
    s = sub.add_parser("sweep", help="run a grid of settings x seeds on Ray (README.md, Sweeps)")
    s.add_argument("preset", help="preset name or TOML path")
    s.add_argument("--out", required=True, help="sweep folder (rerun the command to resume)")
    s.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="every trial")
    s.add_argument(
        "--grid",
        action="append",
        metavar="SECTION.KEY=V1,V2,...",
        help="values to sweep (or log:LO:HI:N); several --grid make a cross product",
    )
    s.add_argument("--seeds", default="0", help="seeds, e.g. 0-4 or 0,3 (default 0)")
    s.add_argument("--steps", type=int, help="training steps per trial")
    s.add_argument("--address", help="join an existing Ray cluster (HOST:PORT or auto)")
    s.add_argument("--max-parallel", type=int, help="trials at once (default: CPUs)")
    s.set_defaults(func=cmd_sweep)

    t = sub.add_parser("tune", help="search settings against the exact KL/NLL with ASHA on Ray")
    t.add_argument("preset", help="preset name or TOML path")
    t.add_argument(
        "--param",
        action="append",
        metavar="SECTION.KEY=log:LO:HI",
        help="search range: log:LO:HI, lin:LO:HI, int:LO:HI or v1,v2,... (choice)",
    )
    t.add_argument("--trials", type=int, default=16)
    t.add_argument("--metric", choices=("kl", "nll"), default="kl")
    t.add_argument("--out", required=True, help="folder for best.toml and trials.csv")
    t.add_argument("--seeds", default="0", help="seeds each trial averages over, e.g. 0-2")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="every trial")
    t.add_argument("--steps", type=int, help="training steps per trial (ASHA's maximum)")
    t.add_argument("--address", help="join an existing Ray cluster (HOST:PORT or auto)")
    t.set_defaults(func=cmd_tune)
