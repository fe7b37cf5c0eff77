"""bench/gpu_check.sh: valid bash, and its CPU-sized dry run completes every step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.sh"

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@needs_bash
def test_gpu_check_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@needs_bash
def test_gpu_check_refuses_an_unknown_option():
    r = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


@needs_bash
@pytest.mark.slow
def test_gpu_check_dry_run_runs_every_step_on_the_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    r = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, env=env, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    gpu = json.loads((tmp_path / "gpu.json").read_text())["gpu"]
    assert gpu["device"] == "cpu" and gpu["train_step_ms"] > 0
    assert all(v is not None for v in gpu["train_steps_per_s"].values())
    ttf = json.loads((tmp_path / "time_to_fit.json").read_text())["time_to_fit"]
    assert ttf["nce"]["8gaussians"]["steps"] == 10
    summary = (tmp_path / "summary.txt").read_text()
    assert "train step" in summary and "time to fit nce 8gaussians" in summary
