"""The CLI contracts (README.md, Command line) and the checkpoint format."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ebm_studio
from ebm_studio.cli import main
from ebm_studio.core.checkpoint import CheckpointError, read_checkpoint, restore_trainer
from ebm_studio.core.presets import load_preset


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ebm_studio.cli", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_args) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "buffer-ml", "--steps", "20", *small_args(), "--out", str(out)]) == 0
    return out


def test_train_writes_the_five_files(trained):
    for name in (
        "config.toml",
        "metrics.csv",
        "checkpoint.safetensors",
        "landscape.png",
        "samples.png",
    ):
        assert (trained / name).stat().st_size > 0, name
    header = (trained / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "step" and "kl" in header and "loss" in header
    assert (trained / "landscape.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_toml_is_a_preset_that_reproduces_the_run(trained, tmp_path):
    p = load_preset(trained / "config.toml")
    assert p.config.model.width == 32 and p.config.train.steps == 20
    out2 = tmp_path / "again"
    assert main(["train", str(trained / "config.toml"), "--out", str(out2)]) == 0
    a = read_checkpoint(trained / "checkpoint.safetensors").tensors
    b = read_checkpoint(out2 / "checkpoint.safetensors").tensors
    assert torch.equal(a["model.net.0.weight"], b["model.net.0.weight"])


def test_eval_json(trained, capsys):
    assert main(["eval", str(trained / "checkpoint.safetensors"), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["step"] == 20 and {"kl", "nll", "log_z_grid"} <= set(m)
    # NLL - KL is the held-out estimate of the data's entropy: for 8 Gaussians of std 0.2,
    # 7.6 std apart, log 8 + log(2 pi e 0.04) = 1.698 nats. Each point's -log p has a standard
    # deviation of 1 nat (half a chi-square with 2 degrees of freedom): 4 standard errors.
    n_test = load_preset(trained / "config.toml").config.data.n_test
    assert m["nll"] - m["kl"] == pytest.approx(1.698, abs=4 / n_test**0.5)


def test_load_checkpoint_api(trained):
    m = ebm_studio.load_checkpoint(trained / "checkpoint.safetensors")
    assert m.step == 20 and m.config["model"]["width"] == 32
    x = torch.zeros(7, 2)
    e = m.energy(x)
    assert e.shape == (7,) and torch.isfinite(e).all()


def test_train_and_eval_on_csv_points(tmp_path, capsys, small_args):
    csv = tmp_path / "points.csv"
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(600, 2, generator=g)
    csv.write_text("x,y\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in pts.tolist()))
    out = tmp_path / "csvrun"
    assert (
        main(["train", "cd", "--steps", "5", *small_args(), "--data", str(csv), "--out", str(out)])
        == 0
    )
    capsys.readouterr()
    assert main(["eval", str(out / "checkpoint.safetensors"), "--data", str(csv), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert "kl" not in m  # points-only data has no exact density: KL is unavailable, not faked
    assert m["n_data"] == 600 and "nll_data" in m


def test_bad_csv_is_refused_with_line_and_no_traceback(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("x,y\n1,2\n3,4\n5,oops\n")
    r = run_cli("train", "cd", "--steps", "1", "--data", str(csv), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "bad.csv" in r.stderr and "line 4" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_set_value_is_refused(tmp_path):
    r = run_cli("train", "cd", "--set", "sampler.step_size=-1", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "sampler.step_size" in r.stderr and "Traceback" not in r.stderr


def test_presets_lists_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("cd", "pcd", "buffer-ml", "buffer-truecd", "short-run"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


def test_resume_is_bit_identical(tmp_path, small_args):
    # 100 steps + save + resume 100 steps == 200 uninterrupted steps, bit for bit on CPU.
    # (A constant lr: a cosine schedule's horizon is train.steps, which differs between them.)
    const = small_args(**{"optim.schedule": "'constant'"})
    half = tmp_path / "half"
    assert main(["train", "buffer-ml", "--steps", "100", *const, "--out", str(half)]) == 0
    out = tmp_path / "resumed"
    assert main(["train", "--resume", str(half / "checkpoint.safetensors"), "--steps", "100",
                 "--out", str(out)]) == 0  # fmt: skip
    full = tmp_path / "full"
    assert main(["train", "buffer-ml", "--steps", "200", *const, "--out", str(full)]) == 0
    a = read_checkpoint(out / "checkpoint.safetensors").tensors
    b = read_checkpoint(full / "checkpoint.safetensors").tensors
    keys = [k for k in b if k.startswith(("model.", "optim.", "objective.")) or k == "gen"]
    assert any(k.startswith("objective.mcmc.starts.buffer") for k in keys)
    for k in keys:
        assert torch.equal(a[k], b[k]), k


def test_divergence_exits_3_and_keeps_checkpoint(tmp_path, small_args):
    out = tmp_path / "div"
    r = run_cli("train", "cd", "--steps", "50", *small_args(), "--set", "optim.lr=1.0",
                "--set", "objective.alpha=0", "--set", "train.energy_limit=5",
                "--out", str(out))  # fmt: skip
    assert r.returncode == 3, r.stderr[-500:]
    assert "diverged" in r.stderr and "Traceback" not in r.stderr
    restore_trainer(out / "checkpoint.safetensors")  # the last good state loads


# --- checkpoints never unpickle, and refuse foreign or damaged files --------------------------


def test_pickle_file_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="evil.safetensors"):
        read_checkpoint(bad)
    pt = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(2)}, pt)
    with pytest.raises(CheckpointError, match="model.pt"):
        read_checkpoint(pt)
    r = run_cli("eval", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not marker.exists()


def test_truncated_and_corrupt_files_are_refused(trained, tmp_path):
    raw = (trained / "checkpoint.safetensors").read_bytes()
    for name, data in {
        "trunc.safetensors": raw[: len(raw) // 2],
        "tiny.safetensors": raw[:5],
        "hugeheader.safetensors": (10**12).to_bytes(8, "little") + raw[8:],
        "notjson.safetensors": len(b"{nope").to_bytes(8, "little") + b"{nope",
    }.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(CheckpointError, match=name):
            read_checkpoint(p)


def test_foreign_safetensors_and_wrong_shapes_are_refused(trained, tmp_path):
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an EBM Studio checkpoint"):
        read_checkpoint(foreign)
    data = read_checkpoint(trained / "checkpoint.safetensors")
    tensors = dict(data.tensors)
    tensors["model.net.0.weight"] = torch.zeros(5, 5)
    from safetensors.torch import save

    from ebm_studio.core.checkpoint import FORMAT, FORMAT_VERSION

    md = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "meta": json.dumps(data.meta)}
    shaped = tmp_path / "shapes.safetensors"
    shaped.write_bytes(save(tensors, metadata=md))
    with pytest.raises(CheckpointError, match=r"model\.net\.0\.weight"):
        restore_trainer(shaped)
    md["format_version"] = "99"
    newer = tmp_path / "newer.safetensors"
    newer.write_bytes(save(data.tensors, metadata=md))
    with pytest.raises(CheckpointError, match="version"):
        read_checkpoint(newer)
