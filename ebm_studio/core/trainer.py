"""The synchronous training engine. No threads, no Qt: the GUI's worker and the CLI drive it.

A run is reproducible from ``train.seed`` on one device: the model is initialised under a
seeded RNG fork, the data and test sets come from their own seeded CPU streams, and every draw
during training takes ``self.gen``.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .config import SECTIONS, Config, changed_keys, field_meta
from .datasets import Dataset, ImageSet, make_dataset
from .flows import load_optimizer_tensors, optimizer_tensors
from .frames import ConfigChange, Event, Rollback, Snapshot, event_to_json, events_from_json
from .history import History
from .metrics import energy_grid, kl_to_model, log_z_from_grid, median_bandwidth, mmd2, nll
from .models import build_model
from .objectives import Context, Objective, build_objective

# Events kept (config-change and rollback markers, also saved in checkpoints): a slider drag
# logs one per value it passes, so a long session could log them without end; the curves show
# the last ``MAX_MARKERS`` anyway. About 100 bytes each in a checkpoint's JSON: 1 MB at most.
MAX_EVENTS = 10_000
# Unsent rows a snapshot carries as dicts (about 1 KB each) for the views that read the latest
# values; with more (an opened checkpoint: a million rows overnight) it carries none. The
# curves read the columns themselves (``Snapshot.history``, a view: no copy).
MAX_SNAPSHOT_ROWS = 5_000


class Diverged(RuntimeError):
    """Training diverged; the trainer has rolled back to its last good state."""

    def __init__(self, cause: str, step: int, rolled_back_to: int) -> None:
        self.cause, self.step, self.rolled_back_to = cause, step, rolled_back_to
        remedies = (
            "lower the learning rate, raise the energy penalty alpha, enable spectral "
            "normalisation, or use a smaller sampler step size"
        )
        super().__init__(
            f"Training diverged at step {step}: {cause}. Rolled back to step {rolled_back_to}; "
            f"to continue, {remedies}."
        )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but CUDA is not available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise RuntimeError("device 'mps' was requested but MPS is not available")
    return torch.device(name)


class Trainer:
    """Owns the model, optimizer, objectives and data of one run."""

    def __init__(
        self, config: Config, points: np.ndarray | None = None, pretrain: bool = True
    ) -> None:
        """``pretrain=False`` when a checkpoint's state is loaded next (``load_state_dict``):
        a flow is then built without its ML pretraining, whose result would be overwritten."""
        self._points = points
        self._pretrain = pretrain
        self.reset(config)
        self._pretrain = True

    # ------------------------------------------------------------------------------ setup
    def reset(self, config: Config | None = None) -> None:
        """Rebuild everything from ``config`` (default: the pending or current config)."""
        cfg = config or getattr(self, "pending", None) or self.config
        self.config = cfg
        self.pending: Config | None = None
        self.device = resolve_device(cfg.train.device)
        seed = cfg.train.seed
        self.dataset: Dataset = make_dataset(cfg.data, self._points)
        self.box = float(self.dataset.box)
        self.event_shape = tuple(self.dataset.event_shape)
        # Exact-grid metrics, heatmaps and trails exist for 2D points only.
        self.is_2d = self.event_shape == (2,)
        self.train_labels = self.test_labels = None
        if isinstance(self.dataset, ImageSet):  # a finite set: disjoint train and test images
            tr, te, self.train_labels, self.test_labels = self.dataset.split(
                cfg.data.n_train, cfg.data.n_test, seed
            )
            self.train_x, self.test_x = tr.to(self.device), te.to(self.device)
        else:
            gdata = torch.Generator().manual_seed(seed)
            gtest = torch.Generator().manual_seed(seed + 1_000_003)
            self.train_x = self.dataset.sample(cfg.data.n_train, gdata).to(self.device)
            self.test_x = self.dataset.sample(cfg.data.n_test, gtest).to(self.device)
        self.test_log_p = (
            self.dataset.log_prob(self.test_x.cpu().double()).to(self.device)
            if self.dataset.has_density
            else None
        )
        self.gen = torch.Generator(device=self.device).manual_seed(seed + 2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = build_model(cfg.model, self.event_shape).to(self.device)
        self.opt = torch.optim.Adam(
            self.model.parameters(),
            lr=cfg.optim.lr,
            betas=(cfg.optim.beta1, cfg.optim.beta2),
            weight_decay=cfg.optim.weight_decay,
        )
        d = self.train_x.reshape(len(self.train_x), -1)
        # Images have constant pixels (digit corners): a larger ridge keeps the fitted
        # Gaussian (NCE noise, SNL proposal) proper.
        ridge = 1e-6 if self.is_2d else 1e-3
        self.ctx = Context(
            model=self.model,
            gen=self.gen,
            device=self.device,
            box=self.box,
            data=self.train_x,
            data_mean=d.mean(0),
            data_cov=torch.cov(d.T) + ridge * torch.eye(d.shape[1], device=self.device),
            pretrain=getattr(self, "_pretrain", True),
        )
        self.objectives: dict[str, Objective] = {}
        self.extra_opts: dict[str, torch.optim.Optimizer] = {}
        self.step_count = 0
        self.history = History()
        self.events: list[Event] = []
        self._unsent_rows = 0
        self._unsent_events = 0
        self._bandwidth = median_bandwidth(self.test_x.cpu().reshape(len(self.test_x), -1))
        self._trail_len = 50
        self._trails: list[torch.Tensor] = []
        self._trail_jumps: list[torch.Tensor | None] = []  # parallel to _trails
        # The first step whose evaluation found KL <= train.stop_at_kl (None: not yet).
        self.kl_reached_at: int | None = None
        self._good: tuple[int, dict[str, torch.Tensor]] | None = None
        self._objective()  # create the initial objective now (deterministic draw order)
        self._keep_good()

    def _objective(self) -> Objective:
        name = self.config.objective.name
        if name not in self.objectives:
            obj = build_objective(name, self.ctx, self.config)
            self.objectives[name] = obj
            extras = obj.extra_parameters()
            if extras:
                self.extra_opts[name] = torch.optim.Adam(extras, lr=self._extra_lr())
        return self.objectives[name]

    def _extra_lr(self) -> float:
        # The scalar log Z estimates move faster than the network (they are one number).
        return max(self.config.optim.lr * 10, 1e-3)

    @property
    def objective(self) -> Objective:
        return self._objective()

    # ------------------------------------------------------------------------------ config
    def apply_config(self, new: Config) -> list[tuple[str, Any, Any]]:
        """Apply live settings now; keep structural ones pending until ``reset()``.

        Returns the changes applied. Each (but the view's) is also logged as a
        ``ConfigChange`` event for the curves' markers.
        """
        applied: list[tuple[str, Any, Any]] = []
        live_cfg = self.config
        structural = False
        for key, old, val in changed_keys(self.config, new):
            sec, name = key.split(".", 1)
            if field_meta(sec, name)["live"]:
                live_cfg = replace(
                    live_cfg, **{sec: replace(getattr(live_cfg, sec), **{name: val})}
                )
                applied.append((key, old, val))
            else:
                structural = True
        self.pending = new if structural else None
        if not applied:
            return applied
        if any(key == "train.stop_at_kl" for key, _, _ in applied):
            self.kl_reached_at = None  # a new bound: armed again
        self.config = live_cfg
        for obj in self.objectives.values():
            obj.apply_config(live_cfg)
        for g in self.opt.param_groups:
            g["betas"] = (live_cfg.optim.beta1, live_cfg.optim.beta2)
            g["weight_decay"] = live_cfg.optim.weight_decay
        for key, old, val in applied:
            if key.startswith("view."):
                continue
            self.events.append(ConfigChange(self.step_count, key, old, val))
        return applied

    def lr_at(self, step: int) -> float:
        o = self.config.optim
        warm = min(1.0, (step + 1) / o.warmup) if o.warmup > 0 else 1.0
        if o.schedule == "constant":
            return o.lr * warm
        frac = min(step / max(self.config.train.steps, 1), 1.0)
        cos = o.lr_final + (1 - o.lr_final) * 0.5 * (1 + math.cos(math.pi * frac))
        return o.lr * cos * warm

    @property
    def stop_requested(self) -> bool:
        """Whether ``train.stop_at_kl`` is set and an evaluation has reached it."""
        return self.config.train.stop_at_kl > 0 and self.kl_reached_at is not None

    # ------------------------------------------------------------------------------ training
    def step(self) -> dict[str, float]:
        """One optimizer step. Raises ``Diverged`` (after rolling back) on divergence."""
        cfg = self.config
        t0 = time.perf_counter()
        obj = self._objective()
        idx = torch.randint(
            len(self.train_x), (cfg.train.batch_size,), generator=self.gen, device=self.device
        )
        x = self.train_x[idx]
        loss, parts = obj.loss(x)
        limit = cfg.train.energy_limit
        if not torch.isfinite(loss):
            self._diverge("the loss is not finite")
        for k in ("e_pos", "e_neg"):
            if k in parts and not abs(parts[k]) <= limit:
                self._diverge(f"mean energy {k} = {parts[k]:.3g} exceeds the limit {limit:g}")
        lr = self.lr_at(self.step_count)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        extra_opt = self.extra_opts.get(cfg.objective.name)
        if extra_opt is not None:
            # The log Z scalars follow the same schedule (halves the spread of b - log Z).
            for g in extra_opt.param_groups:
                g["lr"] = self._extra_lr() * lr / cfg.optim.lr
            extra_opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        gnorm = (
            torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
            if params
            else torch.zeros(())
        )
        if not torch.isfinite(gnorm):
            self._diverge("the parameter gradient is not finite")
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        self.opt.step()
        if extra_opt is not None:
            extra_opt.step()
        parts.update(obj.after_step())
        self.step_count += 1
        now = time.perf_counter()
        row = {"step": float(self.step_count), **parts, "grad_norm": float(gnorm), "lr": lr}
        # The step alone: evaluations, snapshots and the GUI's time between steps not counted.
        row["steps_per_s"] = 1.0 / max(now - t0, 1e-9)
        evals = self.evaluate() if self.step_count % cfg.train.eval_every == 0 else None
        if evals:
            bound = cfg.train.stop_at_kl
            if bound > 0 and self.kl_reached_at is None and evals.get("kl", math.inf) <= bound:
                self.kl_reached_at = self.step_count
        if self.step_count % cfg.train.guard_every == 0:
            self._keep_good()
        self.history.append(row, evals)
        if evals:
            row.update(evals)
        self._record_trails(obj)
        return row

    @property
    def good_step(self) -> int | None:
        """The step of the last good in-memory snapshot (the divergence guard's rollback)."""
        return None if self._good is None else self._good[0]

    def rollback(self) -> int:
        """Go back to the last good snapshot and return its step. The history follows the
        state: rows of the undone steps would otherwise sit beside the new ones at the same
        step numbers (curves, metrics.csv, checkpoints)."""
        assert self._good is not None
        good_step, state = self._good
        self._restore(state)
        self.step_count = good_step
        self.history.truncate_after(good_step)
        self._unsent_rows = min(self._unsent_rows, len(self.history))
        return good_step

    def _diverge(self, cause: str) -> None:
        failed = self.step_count
        good_step = self.rollback()
        self.events.append(Rollback(good_step, failed_at=failed))
        raise Diverged(cause, failed, good_step)

    def _keep_good(self) -> None:
        self._good = (self.step_count, {k: v.clone() for k, v in self._tensor_state().items()})

    def _record_trails(self, obj: Objective) -> None:
        ch = obj.chains()
        if ch is None:
            return
        self._trails.append(ch[:8].detach().clone())
        jumps = obj.chain_jumps()
        self._trail_jumps.append(None if jumps is None else jumps[:8].detach().clone())
        if len(self._trails) > self._trail_len:
            self._trails.pop(0)
            self._trail_jumps.pop(0)

    def train(self, steps: int, callback=None) -> None:
        """``steps`` steps, fewer when ``train.stop_at_kl`` is reached (``stop_requested``)."""
        for _ in range(steps):
            self.step()
            if callback is not None:
                callback(self)
            if self.stop_requested:
                return

    # ------------------------------------------------------------------------------ metrics
    @torch.no_grad()
    def evaluate(self, res: int | None = None) -> dict[str, float]:
        """Exact grid metrics: log Z, held-out NLL, KL to the truth, learned log Z error, MMD.
        Beyond 2D there is no grid: the cheap ones only (MMD on flattened chains, the mean
        held-out energy, the learned log Z); ``image_metrics`` has the classifier and AIS."""
        if not self.is_2d:
            return self._evaluate_images()
        res = res or self.config.train.grid_res
        e = energy_grid(self.model, self.box, res, self.device)
        log_z = log_z_from_grid(e, self.box)
        out = {"log_z_grid": log_z, "nll": nll(self.model, self.test_x, log_z)}
        if self.test_log_p is not None:
            out["kl"] = kl_to_model(self.test_log_p, self.model, self.test_x, log_z)
        est = self.objective.log_z_estimate()
        if est is not None:
            out["log_z_learned"] = est
            out["log_z_error"] = abs(est - log_z)
        ch = self.objective.chains()
        if ch is not None and len(ch) >= 2:
            out["mmd"] = mmd2(ch[:500].cpu(), self.test_x[:500].cpu(), self._bandwidth)
        return out

    def _evaluate_images(self) -> dict[str, float]:
        out = {"e_test": float(self.model(self.test_x[:1000]).mean())}
        est = self.objective.log_z_estimate()
        if est is not None:
            out["log_z_learned"] = est
        ch = self.objective.chains()
        if ch is not None and len(ch) >= 2:
            flat = ch[:500].cpu().reshape(len(ch[:500]), -1)
            test = self.test_x[:500].cpu().reshape(len(self.test_x[:500]), -1)
            out["mmd"] = mmd2(flat, test, self._bandwidth)
        return out

    def sample_starts(self, n: int, start: str, gen: torch.Generator) -> torch.Tensor:
        """Starts for sampling a frozen model: ``n`` training points ("data"), ``n`` rows of
        the replay buffer or chain bank ("buffer"; noise when the run has none) or uniform
        noise on the box (anything else). Used by the GUI's sample mode and ``ebm-studio
        sample``."""
        if start == "data":
            idx = torch.randint(len(self.train_x), (n,), generator=gen, device=self.device)
            return self.train_x[idx].clone()
        buf = self.objective.buffer() if start == "buffer" else None
        if buf is not None:
            idx = torch.randint(len(buf), (n,), generator=gen, device=self.device)
            return buf[idx].clone()
        shape = (n, *self.event_shape)
        return (2 * torch.rand(shape, generator=gen, device=self.device) - 1) * self.box

    def energy_grid(self, res: int) -> np.ndarray:
        if not self.is_2d:
            raise ValueError(
                f"the energy grid is 2D-only; this run's data has shape {self.event_shape}"
            )
        with torch.no_grad():
            return energy_grid(self.model, self.box, res, self.device).cpu().numpy()

    def snapshot(self, res: int = 120, max_chains: int = 100_000, grid: bool = True) -> Snapshot:
        """Immutable numpy copies of what the views need, plus unsent metric rows.

        ``grid=False`` skips the energy grid (``energy``/``log_z`` None): the GUI refreshes its
        heatmap a few times a second but the chains at every frame."""
        obj = self.objective
        grid = grid and self.is_2d
        e = energy_grid(self.model, self.box, res, self.device) if grid else None
        ch = obj.chains()
        buf = obj.buffer()
        age = getattr(obj, "buffer_age", lambda: None)()
        if len(self.history) - self._unsent_rows > MAX_SNAPSHOT_ROWS:
            rows = ()
        else:
            rows = tuple([self.history[i] for i in range(self._unsent_rows, len(self.history))])
        events = tuple(self.events[self._unsent_events :])
        del self.events[:-MAX_EVENTS]
        self._unsent_rows, self._unsent_events = len(self.history), len(self.events)
        trails = (
            torch.stack(self._trails, 1).cpu().numpy()
            if self._trails and all(t.shape == self._trails[0].shape for t in self._trails)
            else None
        )
        return Snapshot(
            step=self.step_count,
            box=self.box,
            energy=None if e is None else e.cpu().numpy(),
            log_z=None if e is None else log_z_from_grid(e, self.box),
            chains=None if ch is None else ch[:max_chains].cpu().numpy().copy(),
            trails=trails,
            trail_jumps=self._stacked_jumps() if trails is not None else None,
            buffer=None if buf is None else buf[:max_chains].cpu().numpy().copy(),
            buffer_age=None if age is None else age[:max_chains].cpu().numpy().copy(),
            rows=rows,
            history=self.history.view(),
            events=events,
            device=str(self.device),
        )

    def _stacked_jumps(self) -> np.ndarray | None:
        """(n_trails, length) bool: point j of a trail was reached by a jump or a restart."""
        jumps = self._trail_jumps
        if not jumps or any(j is None or j.shape != jumps[0].shape for j in jumps):
            return None
        return torch.stack(jumps, 1).cpu().numpy()

    # ------------------------------------------------------------------------------ state
    def _tensor_state(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for k, v in self.model.state_dict().items():
            out[f"model.{k}"] = v
        out.update(optimizer_tensors(self.opt, "optim"))
        for name, obj in self.objectives.items():
            for k, v in obj.state_dict().items():
                out[f"objective.{name}.{k}"] = v
            if name in self.extra_opts:
                out.update(optimizer_tensors(self.extra_opts[name], f"extra_optim.{name}"))
        out["gen"] = self.gen.get_state()
        return out

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON-able metadata): everything needed to continue the run exactly."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._tensor_state().items()}
        tensors["data.train"] = self.train_x.cpu().contiguous()
        tensors["data.test"] = self.test_x.cpu().contiguous()
        for k, v in self.history.to_arrays().items():
            tensors[f"history.{k}"] = torch.from_numpy(v)
        meta = {
            "config": self.config.to_dict(),
            "step": self.step_count,
            "objectives": list(self.objectives),
            "events": [event_to_json(e) for e in self.events],
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore a state from ``state_dict``; the config must match (call ``reset`` with it
        first). Shapes are checked before anything is changed."""
        self.train_x = tensors["data.train"].to(self.device)
        self.test_x = tensors["data.test"].to(self.device)
        self.ctx.data = self.train_x
        if self.dataset.has_density:
            self.test_log_p = self.dataset.log_prob(self.test_x.cpu().double()).to(self.device)
        self.ctx.pretrain = False  # flows come from the checkpoint: no pretraining
        try:
            for name in meta["objectives"]:
                saved = self.config
                self.config = replace(saved, objective=replace(saved.objective, name=name))
                self._objective()
                self.config = saved
        finally:
            self.ctx.pretrain = True
        self._restore(tensors)
        self.step_count = int(meta["step"])
        self.history = history_from_tensors(tensors, meta)
        self.events = events_from_json(meta.get("events", []))
        self._unsent_rows, self._unsent_events = 0, 0
        self._keep_good()

    def _restore(self, t: dict[str, torch.Tensor]) -> None:
        model_sd = {k[6:]: v for k, v in t.items() if k.startswith("model.")}
        self.model.load_state_dict(model_sd)
        load_optimizer_tensors(self.opt, "optim", t, self.device)
        for name, obj in self.objectives.items():
            pre = f"objective.{name}."
            obj.load_state_dict({k[len(pre) :]: v for k, v in t.items() if k.startswith(pre)})
            if name in self.extra_opts:
                load_optimizer_tensors(self.extra_opts[name], f"extra_optim.{name}", t, self.device)
        self.gen.set_state(t["gen"].cpu())


def history_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> History:
    """The history a checkpoint holds: ``history.dense.*``/``history.eval.*`` columns, or the
    one (rows, columns) ``history`` matrix of checkpoints written before the columns."""
    if "history" in tensors:  # the older layout: NaN where a metric was not computed
        cols = meta.get("history_columns", [])
        rows = tensors["history"].numpy()
        return History.from_rows(
            {c: float(v) for c, v in zip(cols, row) if not np.isnan(v)} for row in rows
        )
    pre = "history."
    return History.from_arrays(
        {k[len(pre) :]: v.numpy() for k, v in tensors.items() if k.startswith(pre)}
    )


__all__ = ["Trainer", "Diverged", "resolve_device", "SECTIONS"]
