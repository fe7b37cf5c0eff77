"""Command-line entry points: gui, train, compare, eval, plot, sample, presets, and sweep and
tune (ebm_studio/sweep/cli.py; README.md).

User errors (bad preset, CSV, checkpoint, --set value) print one sentence and exit with code 2;
a diverged run exits with code 3 and leaves the last good checkpoint.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

EXIT_USAGE = 2
EXIT_DIVERGED = 3


class UserError(Exception):
    pass


def cannot_write(path: str | Path, e: OSError) -> UserError:
    """One sentence for a failed write (full disk, unwritable folder), naming the path."""
    return UserError(f"{path}: cannot be written ({e.strerror or e})")


def build_config(args: argparse.Namespace):
    """The preset named on the command line with --seed/--device/--steps/--data/--set applied."""
    from .core.overrides import parse_value
    from .core.presets import load_preset

    preset = load_preset(args.preset)
    cfg = preset.config
    for item in args.set or []:
        key, eq, text = item.partition("=")
        if not eq:
            raise UserError(f"--set {item!r}: expected section.key=value")
        cfg = cfg.with_value(key.strip(), parse_value(text.strip()))
    if args.seed is not None:
        cfg = cfg.with_value("train.seed", args.seed)
    if args.device is not None:
        cfg = cfg.with_value("train.device", args.device)
    if args.steps is not None:
        cfg = cfg.with_value("train.steps", args.steps)
    points = None
    if getattr(args, "data", None):
        from .core.datasets import load_csv_points

        points = load_csv_points(args.data)
        cfg = replace(cfg, data=replace(cfg.data, name="drawn", path=str(args.data)))
    return preset, cfg, points


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .core.checkpoint import restore_trainer, save_checkpoint
    from .core.outputs import write_run_outputs
    from .core.trainer import Diverged, Trainer

    out = Path(args.out)
    if args.resume:
        trainer = restore_trainer(args.resume, device=args.device)
        steps = args.steps if args.steps is not None else trainer.config.train.steps
    else:
        _, cfg, points = build_config(args)
        trainer = Trainer(cfg, points=points)
        steps = cfg.train.steps
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(out, e) from None
    bar = tqdm(total=steps, desc="training", unit="step", file=sys.stderr, dynamic_ncols=True)
    try:
        for _ in range(steps):
            row = trainer.step()
            bar.update(1)
            if "kl" in row or "nll" in row:
                bar.set_postfix({k: f"{row[k]:.3f}" for k in ("kl", "nll") if k in row})
            if trainer.stop_requested:
                print(
                    f"stopped at step {trainer.step_count}: KL {row['kl']:.4f} <= "
                    f"train.stop_at_kl = {trainer.config.train.stop_at_kl:g}",
                    file=sys.stderr,
                )
                break
    except Diverged as d:
        bar.close()
        save_checkpoint(trainer, out / "checkpoint.safetensors")
        print(f"error: {d}", file=sys.stderr)
        return EXIT_DIVERGED
    finally:
        bar.close()
    final = trainer.evaluate()
    if not trainer.is_2d and getattr(trainer.dataset, "labels", None) is not None:
        from .core.image_outputs import image_metrics

        chains = trainer.objective.buffer()
        chains = trainer.objective.chains() if chains is None else chains
        if chains is not None:  # the classifier's view of the buffer (no AIS: see eval)
            final.update(image_metrics(trainer, chains))
    trainer.history.append({"step": float(trainer.step_count), **final})
    try:
        write_run_outputs(trainer, out)
    except OSError as e:
        raise cannot_write(out, e) from None
    print(summary_line(trainer.step_count, final))
    return 0


def summary_line(step: int, m: dict[str, float]) -> str:
    parts = [f"step {step}"]
    for k in (
        "kl",
        "nll",
        "log_z_grid",
        "log_z_error",
        "mmd",
        "classes_covered",
        "frac_confident",
        "frechet",
    ):
        if k in m and math.isfinite(m[k]):
            parts.append(f"{k} {m[k]:.4f}")
    return " | ".join(parts)


def cmd_compare(args: argparse.Namespace) -> int:
    """Two runs in lock-step on the same data and seed (arm B = arm A with --set-b), then both
    arms' exact metrics side by side."""
    from tqdm import tqdm

    from .core.compare import ArmDiverged, CompareRun
    from .core.config import ConfigError
    from .core.overrides import parse_assignments

    _, cfg, points = build_config(args)
    try:
        overrides = parse_assignments(args.set_b or [])
    except ConfigError as e:
        raise UserError(f"--set-b: {e}") from None
    run = CompareRun(cfg, overrides, points)
    steps = cfg.train.steps
    bar = tqdm(total=steps, desc="comparing", unit="step", file=sys.stderr, dynamic_ncols=True)
    try:
        run.train(steps, callback=lambda _: bar.update(1))
    except ArmDiverged as d:
        print(f"error: {d}", file=sys.stderr)
        return EXIT_DIVERGED
    finally:
        bar.close()
    final = run.final_metrics()
    if args.json:
        arms = {arm: {"settings": t, "metrics": m} for arm, t, m in zip("AB", run.titles, final)}
        print(json.dumps(arms, indent=2))
        return 0
    print(f"A: {run.titles[0]}\nB: {run.titles[1]}")
    metrics = ("kl", "nll", "log_z_grid", "log_z_error", "mmd")
    keys = [k for k in metrics if k in final[0] or k in final[1]]
    print(f"{'':>12} {'A':>10} {'B':>10}")
    for k in ["step", *keys]:
        cells = [m.get(k) for m in final]
        shown = ["-" if v is None else f"{v:.0f}" if k == "step" else f"{v:.4f}" for v in cells]
        print(f"{k:>12} {shown[0]:>10} {shown[1]:>10}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from .core.checkpoint import restore_trainer
    from .core.metrics import nll

    trainer = restore_trainer(args.checkpoint)
    m = trainer.evaluate()
    m = {"step": trainer.step_count, **m}
    if not trainer.is_2d:
        from .core.image_outputs import image_metrics

        if args.data:
            raise UserError("--data (a CSV of 2D points) does not apply to an image run")
        chains = trainer.objective.buffer()
        if chains is None:
            chains = trainer.objective.chains()
        if chains is None:
            chains = trainer.test_x
        m.update(
            image_metrics(trainer, chains, ais_chains=args.ais_chains, ais_temps=args.ais_temps)
        )
    elif args.data:
        from .core.datasets import load_csv_points

        pts = torch.from_numpy(load_csv_points(args.data)).float().to(trainer.device)
        m["nll_data"] = nll(trainer.model, pts, m["log_z_grid"])
        m["n_data"] = len(pts)
    if args.json:
        print(json.dumps(m, indent=2))
    else:
        for k, v in m.items():
            print(f"{k:>14}  {v:.6g}" if isinstance(v, float) else f"{k:>14}  {v}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """A publication figure of a checkpoint (PDF, SVG, PNG, EPS). Every choice is checked
    before the checkpoint is read, so a bad one costs nothing and writes nothing."""
    from .core.checkpoint import restore_trainer
    from .core.figures import FigureError, run_data_from_trainer, run_figure, save_figure
    from .core.figures.style import check_format, check_panels, check_style, check_width

    try:
        panels = check_panels(args.panels)
        check_style(args.style)
        check_width(args.width_in)
        check_format(args.out)
    except FigureError as e:
        raise UserError(str(e)) from None
    if not 50 <= args.dpi <= 1200:
        raise UserError(f"--dpi {args.dpi} is out of range; allowed: 50 to 1200")
    if not 16 <= args.res <= 1024:
        raise UserError(f"--res {args.res} is out of range; allowed: 16 to 1024")
    trainer = restore_trainer(args.checkpoint)
    run = run_data_from_trainer(trainer, args.res)
    try:
        fig = run_figure(
            run,
            panels,
            style=args.style,
            width_in=args.width_in,
            log_kl=args.log_kl,
            quantity=args.quantity,
        )
        save_figure(fig, args.out, dpi=args.dpi)
    except FigureError as e:
        raise UserError(f"{Path(args.checkpoint).name}: {e}") from None
    except OSError as e:
        raise cannot_write(args.out, e) from None
    print(f"wrote {args.out}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Run chains on a frozen checkpoint: the raw chains (.npy, any mode) or a recording of
    them mixing (GIF, or MP4 with the extra): 2D chains over the model's landscape with axes
    and a colour bar, image chains as a grid of pictures."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from .core.checkpoint import restore_trainer
    from .core.figures import AxesFrame, FigureError, check_animation_path, write_animation
    from .core.samplers import Sampler

    raw = Path(args.out).suffix.lower() == ".npy"
    if not raw:
        try:
            check_animation_path(args.out)
        except FigureError as e:
            raise UserError(f"{e} (or .npy for the raw chains)") from None
    trainer = restore_trainer(args.checkpoint)
    config = trainer.config
    over = {"kind": args.sampler, "temperature": args.temperature, "step_size": args.step_size}
    over["noise"] = args.noise
    for k, v in over.items():
        if v is not None:
            config = config.with_value(f"sampler.{k}", v)  # validated like a preset value
    sampler = Sampler(config.sampler, trainer.box)
    gen = torch.Generator(device=trainer.device).manual_seed(args.seed)
    x = trainer.sample_starts(args.chains, args.start, gen)
    if raw:
        frame = None
    elif trainer.is_2d:
        axes = AxesFrame(
            trainer.energy_grid(200),
            trainer.box,
            title=f"{config.sampler.kind}, {args.chains} chains",
        )

        def frame(x):
            return axes.frame(x.cpu().numpy())
    else:
        from .core.image_outputs import image_grid

        def frame(x):
            return np.kron(image_grid(x[:64]), np.ones((6, 6, 1), dtype=np.uint8))

    per_frame = max(1, args.steps // args.frames)
    frames = [] if frame is None else [frame(x)]
    bar = tqdm(total=args.steps, desc="sampling", unit="step", file=sys.stderr)
    done = 0
    while done < args.steps:
        k = min(per_frame, args.steps - done)
        x, _ = sampler.run(trainer.model, x, k, gen)
        done += k
        bar.update(k)
        if frame is not None:
            frames.append(frame(x))
    bar.close()
    try:
        if frame is None:
            from .core.atomic import atomic_path

            with atomic_path(args.out) as tmp, open(tmp, "wb") as f:
                np.save(f, x.detach().cpu().numpy().astype(np.float32))
        else:
            write_animation(frames, args.out, fps=args.fps)
    except ValueError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise cannot_write(args.out, e) from None
    what = f"{len(frames)} frames" if frame is not None else f"chains {tuple(x.shape)}"
    print(f"wrote {args.out} ({what})")
    if not trainer.is_2d and getattr(trainer.dataset, "labels", None) is not None:
        from .core.image_outputs import image_metrics

        m = image_metrics(trainer, x)
        print(
            f"classifier (test accuracy {m['classifier_accuracy']:.3f}): "
            f"{m['classes_covered']:.0f} classes with >= 1% of the chains, "
            f"{m['frac_confident']:.1%} confident > 0.9, class entropy "
            f"{m['class_entropy']:.3f} nats, Frechet {m['frechet']:.3f}"
        )
    return 0


def cmd_compose(args: argparse.Namespace) -> int:
    """Compose two energies (checkpoints or data:NAME), print log Z and KL, write a checkpoint."""
    from tqdm import tqdm

    from .core.compose import ComposeError, compose_to_checkpoint

    if not args.out.endswith(".safetensors"):
        raise UserError(f"{args.out}: the composed checkpoint must be a .safetensors file")
    bar = tqdm(total=args.steps, desc="distilling", unit="step", file=sys.stderr)
    try:
        r = compose_to_checkpoint(
            args.a, args.b, args.op, args.out, steps=args.steps, progress=lambda i: bar.update(1)
        )
    except ComposeError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise cannot_write(args.out, e) from None
    finally:
        bar.close()
    kl = "n/a (no exact truth)" if r["kl_to_truth"] is None else f"{r['kl_to_truth']:.4f}"
    print(f"{args.op} of {args.a} and {args.b}: log Z {r['log_z']:.4f} (grid), KL to truth {kl}")
    print(f"distilled into the MLP: KL(composed || checkpoint) {r['distil_kl']:.4f} nats")
    print(f"wrote {args.out}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .core.presets import list_presets

    presets = list_presets()
    width = max((len(p.name) for p in presets), default=0)
    for p in presets:
        print(f"{p.name:<{width}}  {p.description}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from .core.targets import classify
    from .gui.qt_probe import explain, finish_probe, start_probe

    target = getattr(args, "target", None)
    if target:
        target = classify(target)  # an unknown or missing file: one sentence, exit 2
    # Qt aborts the process when its platform plugin cannot load; a child finds out first,
    # while this process imports the window's modules.
    probe = start_probe()
    try:
        from .gui import main_window  # noqa: F401  (the heavy imports, during the probe)
        from .gui.app import run_app
    except ImportError as e:
        finish_probe(probe)
        raise UserError(f"the GUI is not available ({e})") from None
    problem = explain(finish_probe(probe))
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    code = run_app(preset=getattr(args, "preset", None), target=target)
    # The window is closed and the worker joined; the process exits next. Freezing the heap
    # spares the interpreter's shutdown collections a walk over every torch/pyqtgraph object,
    # so closing exits at once (README.md, Reliability).
    gc.freeze()
    return code


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ebm-studio", description="Train toy 2D energy-based models interactively."
    )
    sub = p.add_subparsers(dest="command")
    g = sub.add_parser("gui", help="open the studio window")
    g.add_argument("--preset", help="preset name or TOML path")
    g.add_argument(
        "target",
        nargs="?",
        metavar="FILE | SHARE_STRING",
        help="open a checkpoint, preset, CSV of points, image or share string (ebm1:...)",
    )
    g.set_defaults(func=cmd_gui)

    t = sub.add_parser("train", help="train headless and write results to --out")
    t.add_argument("preset", nargs="?", default="buffer-ml", help="preset name or TOML path")
    t.add_argument("--steps", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", choices=("cpu", "cuda", "mps", "auto"))
    t.add_argument("--data", help="CSV of points (two columns) to train on")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    t.add_argument("--resume", metavar="CHECKPOINT", help="continue a saved run")
    t.add_argument("--out", required=True, help="output directory")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser(
        "compare", help="train two runs in lock-step (arm B = A with --set-b), print both"
    )
    c.add_argument("preset", nargs="?", default="buffer-ml", help="arm A: preset name or path")
    c.add_argument("--set-b", action="append", metavar="SECTION.KEY=VALUE", help="arm B only")
    c.add_argument("--steps", type=int)
    c.add_argument("--seed", type=int)
    c.add_argument("--device", choices=("cpu", "cuda", "mps", "auto"))
    c.add_argument("--data", help="CSV of points (two columns) both arms train on")
    c.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="both arms")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_compare)

    e = sub.add_parser("eval", help="print the metrics of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--data", help="CSV of points to evaluate the NLL on")
    e.add_argument("--ais-chains", type=int, default=256, help="image runs: AIS chains (0 off)")
    e.add_argument("--ais-temps", type=int, default=200, help="image runs: AIS temperatures")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    pl = sub.add_parser("plot", help="publication figure (landscape, samples, curves)")
    pl.add_argument("checkpoint")
    pl.add_argument("--out", required=True, help="fig.pdf, .svg, .png or .eps")
    pl.add_argument("--panels", default="landscape,samples,curves", help="comma-separated panels")
    pl.add_argument("--style", default="paper", help="paper (light, default) or dark")
    pl.add_argument(
        "--width-in", type=float, default=6.75, help="width in inches (3.35 single column)"
    )
    pl.add_argument("--log-kl", action="store_true", help="KL on a logarithmic axis")
    pl.add_argument("--quantity", choices=("energy", "density", "log-density"), default="density")
    pl.add_argument("--dpi", type=int, default=300, help="raster resolution (PNG)")
    pl.add_argument("--res", type=int, default=256, help="landscape grid resolution")
    pl.set_defaults(func=cmd_plot)

    sa = sub.add_parser("sample", help="record chains mixing on a trained model")
    sa.add_argument("checkpoint")
    sa.add_argument("--chains", type=int, default=2000)
    sa.add_argument("--steps", type=int, default=200)
    sa.add_argument("--sampler", choices=("langevin", "mala", "rwmh", "pt", "hmc"))
    sa.add_argument("--temperature", type=float)
    sa.add_argument("--step-size", type=float)
    sa.add_argument("--noise", type=float, help="decoupled Langevin noise sigma")
    sa.add_argument("--start", choices=("noise", "data", "buffer"), default="noise")
    sa.add_argument("--frames", type=int, default=50)
    sa.add_argument("--fps", type=int, default=15)
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--out", required=True, help="chains.npy (raw), chains.gif or chains.mp4")
    sa.set_defaults(func=cmd_sample)

    co = sub.add_parser(
        "compose", help="product, mixture or difference of two energies, as a checkpoint"
    )
    co.add_argument("a", help="checkpoint path or data:NAME (a dataset's exact energy)")
    co.add_argument("b", help="checkpoint path or data:NAME")
    co.add_argument("--op", choices=("product", "mixture", "difference"), default="product")
    co.add_argument("--steps", type=int, default=2000, help="distillation steps")
    co.add_argument("--out", required=True, help="composed.safetensors")
    co.set_defaults(func=cmd_compose)

    ps = sub.add_parser("presets", help="list shipped presets")
    ps.set_defaults(func=cmd_presets)

    from .sweep.cli import add_parsers as add_sweep_parsers

    add_sweep_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from .core.checkpoint import CheckpointError
    from .core.config import ConfigError
    from .core.datasets import DataError

    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.func = cmd_gui
    try:
        return args.func(args)
    except (UserError, ConfigError, DataError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as e:
        if "not available" in str(e):
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
