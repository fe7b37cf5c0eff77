"""Figures, animations and atomic writes (headless parts of the export contract)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ebm_studio.cli import main
from ebm_studio.core.atomic import atomic_path, atomic_write_bytes
from ebm_studio.core.history import metrics_csv


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, small_args):
    out = tmp_path_factory.mktemp("exp")
    args = small_args(**{"train.eval_every": 5})
    assert main(["train", "buffer-ml", "--steps", "15", *args, "--out", str(out)]) == 0
    return out / "checkpoint.safetensors"


def test_plot_png_at_chosen_width_and_dpi(ckpt, tmp_path):
    out = tmp_path / "fig.png"
    args = ["--width-in", "3.35", "--dpi", "100", "--panels", "landscape", "--res", "32"]
    assert main(["plot", str(ckpt), "--out", str(out), *args]) == 0
    with Image.open(out) as im:
        img = np.asarray(im.convert("RGB"))
    assert img.shape[1] == round(3.35 * 100)  # width in inches times the resolution
    assert img.std() > 5  # not blank


def test_plot_bad_format_is_refused(ckpt, tmp_path, capsys):
    assert main(["plot", str(ckpt), "--out", str(tmp_path / "fig.bmp")]) == 2
    assert "fig.bmp" in capsys.readouterr().err
    assert not (tmp_path / "fig.bmp").exists()


def test_sample_gif_shows_chains_moving(ckpt, tmp_path):
    out = tmp_path / "chains.gif"
    args = ["sample", str(ckpt), "--chains", "300", "--steps", "40", "--frames", "8"]
    assert main([*args, "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 9
        im.seek(0)
        first = np.asarray(im.convert("RGB")).astype(int)
        im.seek(8)
        last = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(first - last).sum() > 0  # the chains moved


def test_sample_rejects_bad_values(ckpt, tmp_path, capsys):
    assert main(["sample", str(ckpt), "--temperature", "-1", "--out", str(tmp_path / "a.gif")])
    assert "sampler.temperature" in capsys.readouterr().err


def test_metrics_csv_has_one_row_per_step_and_header():
    rows = [{"step": 1.0, "loss": 0.5}, {"step": 2.0, "loss": 0.25, "kl": 1.5}]
    parsed = list(csv.DictReader(io.StringIO(metrics_csv(rows))))
    assert [r["step"] for r in parsed] == ["1", "2"]
    assert parsed[0]["kl"] == "" and float(parsed[1]["kl"]) == 1.5


def test_atomic_write_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_killed_export_leaves_no_file_under_the_final_name(tmp_path):
    # A child process writes through atomic_path and is killed mid-write.
    target = tmp_path / "big.bin"
    code = (
        "import os, sys, time\n"
        "from ebm_studio.core.atomic import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    f = open(tmp, 'wb'); f.write(b'x' * 1000); f.flush()\n"
        "    print('writing', flush=True); time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout.readline().strip() == "writing"
        p.kill()
        p.wait()
    assert not target.exists()


def test_unwritable_directory_gives_clear_message(ckpt, tmp_path, capsys):
    if os.geteuid() == 0:
        target = "/proc/ebm-studio-cannot-write/fig.png"
    else:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        target = str(d / "fig.png")
    assert main(["plot", str(ckpt), "--out", target]) == 2
    err = capsys.readouterr().err
    assert "cannot be written" in err and "Traceback" not in err
