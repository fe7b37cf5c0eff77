"""ebm-studio sweep on Ray (README.md, Sweeps): trials equal `train`, a 2-node cluster, a killed
worker, resume after an interruption, the summary, and bad input refused before anything runs.

Ray starts at most twice here (a 2-node cluster, then one local Ray shared by the rest): each
start costs seconds on a loaded CI machine; the trials themselves are tiny.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import SMALL

from ebm_studio.cli import main
from ebm_studio.core.checkpoint import load_checkpoint
from ebm_studio.core.presets import load_preset

ray = pytest.importorskip("ray")

SETS = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")]
STEPS = "20"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sweep_argv(out: Path, *extra: str) -> list[str]:
    return ["sweep", "pcd", "--out", str(out), *SETS, "--steps", STEPS, *extra]


def energies(path: Path) -> torch.Tensor:
    x = torch.linspace(-4, 4, 41)
    batch = torch.cartesian_prod(x, x)
    return load_checkpoint(path).energy(batch)


@pytest.fixture(scope="module")
def cluster_sweep(tmp_path_factory):
    """A 4-trial sweep through --address on a 2-node cluster (one CPU each) on this machine."""
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path_factory.mktemp("cluster") / "sweep"
        argv = sweep_argv(out, "--grid", "sampler.step_size=0.01,0.02", "--seeds", "0-1")
        assert main([*argv, "--address", cluster.address]) == 0
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    return out


def test_cluster_sweep_runs_every_trial_on_both_nodes(cluster_sweep):
    rows = read_csv(cluster_sweep / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert sorted((r["sampler.step_size"], r["seed"]) for r in rows) == [
        ("0.01", "0"), ("0.01", "1"), ("0.02", "0"), ("0.02", "1"),
    ]  # fmt: skip
    nodes = {json.loads((cluster_sweep / "trials" / r["id"] / "result.json").read_text())["node"]
             for r in rows}  # fmt: skip
    assert len(nodes) == 2  # two trials in flight at once need both one-CPU nodes
    for r in rows:
        d = cluster_sweep / "trials" / r["id"]
        assert {p.name for p in d.iterdir()} >= {
            "config.toml", "metrics.csv", "checkpoint.safetensors", "landscape.png", "samples.png",
        }  # fmt: skip
    assert (cluster_sweep / "sweep.pdf").stat().st_size > 0
    assert (cluster_sweep / "sweep.png").stat().st_size > 0


def test_summary_mean_and_sd_match_sweep_csv(cluster_sweep):
    rows = read_csv(cluster_sweep / "sweep.csv")
    summary = read_csv(cluster_sweep / "summary.csv")
    assert len(summary) == 2
    for s in summary:
        mine = [r for r in rows if r["sampler.step_size"] == s["sampler.step_size"]]
        assert int(s["n"]) == len(mine) == 2
        for metric in ("kl", "nll"):
            vals = [float(r[metric]) for r in mine]
            assert float(s[f"{metric}_mean"]) == pytest.approx(statistics.fmean(vals), rel=1e-12)
            assert float(s[f"{metric}_sd"]) == pytest.approx(statistics.stdev(vals), rel=1e-12)
            assert float(s[f"{metric}_min"]) == min(vals)
            assert float(s[f"{metric}_max"]) == max(vals)
        assert s["log_z_error_mean"] == ""  # pcd learns no log Z estimate: left empty


def test_trial_checkpoint_is_bitwise_ebm_studio_train(cluster_sweep, tmp_path):
    row = next(
        r for r in read_csv(cluster_sweep / "sweep.csv")
        if r["sampler.step_size"] == "0.02" and r["seed"] == "1"
    )  # fmt: skip
    out = tmp_path / "train"
    argv = ["train", "pcd", "--out", str(out), *SETS, "--steps", STEPS]
    assert main([*argv, "--set", "sampler.step_size=0.02", "--seed", "1"]) == 0
    mine = energies(cluster_sweep / "trials" / row["id"] / "checkpoint.safetensors")
    assert torch.equal(mine, energies(out / "checkpoint.safetensors"))
    other = energies(cluster_sweep / "trials" / "0000" / "checkpoint.safetensors")
    assert not torch.equal(mine, other)  # the comparison can tell two trials apart


# ---------------------------------------------------------------------- one local Ray


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def spec_for(grid: str, seeds: list[int], steps: int = 20):
    from ebm_studio.sweep.cli import base_config
    from ebm_studio.sweep.spec import build_spec

    _, cfg = base_config("pcd", [f"{k}={v}" for k, v in SMALL.items()], steps)
    return build_spec(cfg, [grid], seeds, preset="pcd")


def test_interrupted_sweep_resumes_only_the_missing_trials(local_ray, tmp_path):
    from ebm_studio.sweep.engine import run_sweep

    spec = spec_for("objective.alpha=0.05,0.1", [0, 1])
    out = tmp_path / "sweep"
    first: list[str] = []

    def interrupt_after_two(record):
        first.append(record["id"])
        if len(first) == 2:
            raise KeyboardInterrupt  # what Ctrl+C raises in the driver's wait

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, max_parallel=1, progress=False, on_done=interrupt_after_two)
    done_before = {i: (out / "trials" / i / "result.json").stat().st_mtime_ns for i in first}
    again: list[str] = []
    records = run_sweep(
        spec, out, max_parallel=1, progress=False, on_done=lambda r: again.append(r["id"])
    )
    assert sorted(again) == sorted({t.id for t in spec.trials()} - set(first))
    assert len(again) == 2
    assert {
        i: (out / "trials" / i / "result.json").stat().st_mtime_ns for i in first
    } == done_before
    assert all(r["status"] == "ok" for r in records.values())
    assert [r["status"] for r in read_csv(out / "sweep.csv")] == ["ok"] * 4


def descendants(pid: int) -> list[int]:
    """Process ids under ``pid`` (this test's own Ray: never another user's processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker in /proc")
def test_worker_killed_mid_trial_is_retried_not_lost(local_ray, tmp_path):
    from ebm_studio.sweep.engine import run_sweep

    spec = spec_for("objective.alpha=0.05", [0], steps=400)
    out = tmp_path / "sweep"
    killed: list[int] = []

    def kill_first_trial_worker():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid in descendants(os.getpid()):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"ray::run_trial" in cmd:
                    time.sleep(0.5)  # mid-trial, not at its start
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_trial_worker)
    killer.start()
    try:
        records = run_sweep(spec, out, max_parallel=1, progress=False)
    finally:
        killer.join()
    assert killed
    assert set(records) == {t.id for t in spec.trials()}
    assert all(r is not None and r["status"] == "ok" for r in records.values())
    assert [r["attempts"] for r in records.values()] == [2]  # killed once, then retried
    assert [r["attempts"] for r in read_csv(out / "sweep.csv")] == ["2"]


def test_tune_writes_a_trainable_best_toml_and_asha_stops_early(local_ray, tmp_path):
    out = tmp_path / "tune"
    sets = [a for k, v in SMALL.items() if k != "train.eval_every" for a in ("--set", f"{k}={v}")]
    argv = ["tune", "pcd", *sets, "--set", "train.eval_every=10", "--steps", "40"]
    params = ["--param", "sampler.step_size=log:1e-3:1e-1", "--param", "objective.alpha=lin:0:0.5"]
    assert main([*argv, *params, "--trials", "6", "--metric", "kl", "--out", str(out)]) == 0
    rows = read_csv(out / "trials.csv")
    assert len(rows) == 6
    assert any(r["status"] == "stopped early" and int(r["step"]) < 40 for r in rows)
    assert any(r["status"] == "complete" and int(r["step"]) == 40 for r in rows)
    best = min((r for r in rows if r["status"] == "complete"), key=lambda r: float(r["kl"]))
    assert (
        main(["train", str(out / "best.toml"), "--steps", "3", "--out", str(tmp_path / "t")]) == 0
    )
    cfg = load_preset(out / "best.toml").config
    assert cfg.sampler.step_size == pytest.approx(float(best["sampler.step_size"]), rel=1e-5)
    assert cfg.objective.alpha == pytest.approx(float(best["objective.alpha"]), rel=1e-5)
