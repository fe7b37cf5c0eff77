"""Reliability: bad values typed into the GUI, live-change stress, faults.

Presets, CSV, images, share strings and checkpoints are fuzzed in their own test files
(test_config, test_datasets, test_cli); this file covers what crosses the GUI and the CLI at run
time.
"""

from __future__ import annotations

import errno
import math
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ebm_studio.cli import main
from ebm_studio.core.checkpoint import read_checkpoint
from ebm_studio.core.config import SECTIONS, Config, ConfigError, field_meta
from ebm_studio.core.presets import load_preset, save_preset
from ebm_studio.worker.commands import UpdateConfig

ROOT = Path(__file__).resolve().parent.parent
ALL_KEYS = [f"{s}.{f.name}" for s, klass in SECTIONS.items() for f in fields(klass)]
# A device move is a command of its own (tested in test_gui); every other key is fuzzed.
FUZZED_KEYS = [k for k in ALL_KEYS if k != "train.device"]
LIVE_KEYS = [k for k in ALL_KEYS if field_meta(*k.split("."))["live"]]
# Live values are drawn from each field's metadata, capped where a legal value would only make
# the test slow (two million chains are legal) or end training (a learning rate of 1 diverges).
LIVE_CAPS = {
    "sampler.n_chains": 128,
    "sampler.steps": 5,
    "sampler.augment_every": 5,
    "sampler.step_size": 0.1,
    "objective.proposal_samples": 128,
    "objective.flow_pretrain": 5,
    "objective.flow_layers": 4,
    "objective.projections": 8,
    "objective.kl_steps": 3,
    "optim.lr": 1e-2,
    "train.batch_size": 128,
    "train.grid_res": 48,
    "view.resolution": 48,
}
LIVE_FLOORS = {"train.energy_limit": 1e3, "train.eval_every": 50}
EDITS_PER_TICK = 10
OUTPUTS = ("config.toml", "metrics.csv", "checkpoint.safetensors", "landscape.png", "samples.png")
TIMEOUT = 60_000  # ms a GUI condition may take on a loaded machine


@pytest.fixture
def studio(window):
    """A shown MainWindow with its first frame drawn."""
    win = window(torch_threads=1)
    yield win.w
    win.w.close()


def validated(config: Config) -> bool:
    """Whether ``config`` passes the same validation as a preset."""
    try:
        return Config.from_dict(config.to_dict()) == config
    except ConfigError:
        return False


# ---------------------------------------------------------------------------- bad input
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e-320, 2**63, -1]),
    st.text(max_size=12),
    st.sampled_from(["nan", "inf", "1e400", "-1", "0x10", "", "persistent", "viridis"]),
    st.lists(st.integers(), max_size=2),
)


def test_values_set_through_the_controller_never_crash_or_half_apply(studio, qtbot):
    c = studio.controller
    sent: list = []
    original_send = c.thread.send
    c.thread.send = lambda cmd: (sent.append(cmd), original_send(cmd))[1]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(key=st.sampled_from(FUZZED_KEYS), value=values)
    def edit(key: str, value: object) -> None:
        before, running, n_sent = c.config, c.running_config, len(sent)
        try:
            expected = before.with_value(key, value)
        except ConfigError:
            expected = None
        ok = c.set_value(key, value)  # never raises
        assert ok == (expected is not None)
        if ok:
            assert c.config == expected
            return
        assert c.config == before and c.running_config == running  # nothing half-applied
        assert len(sent) == n_sent  # nothing reached the worker
        message = studio.statusBar().currentMessage()
        assert key in message and "\n" not in message  # one sentence naming the key

    edit()
    qtbot.waitUntil(lambda: not c._update_timer.isActive(), timeout=TIMEOUT)
    updates = [cmd.config for cmd in sent if isinstance(cmd, UpdateConfig)]
    assert updates and all(validated(cfg) for cfg in updates)  # only valid configs crossed
    # The worker is alive and follows a Step with the last valid settings.
    step = studio.last_snapshot.step
    c.step_once()
    qtbot.waitUntil(lambda: studio.last_snapshot.step >= step + 1, timeout=TIMEOUT)


typed = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400", "1e-400", "--3", "1,5", " ", ""]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
)
NUMERIC_KEYS = [
    k
    for k in FUZZED_KEYS
    if not field_meta(*k.split("."))["choices"]
    and isinstance(getattr(getattr(Config(), k.split(".")[0]), k.split(".")[1]), (int, float))
    and not isinstance(getattr(getattr(Config(), k.split(".")[0]), k.split(".")[1]), bool)
    and k not in ("data.n_train",)  # shown by the data panel
]


def test_text_typed_into_spin_boxes_stays_in_range(studio):
    c = studio.controller
    controls = studio.controls

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(key=st.sampled_from(NUMERIC_KEYS), text=typed)
    def type_into(key: str, text: str) -> None:
        param = controls.param(key)
        spin = next(iter(param.items)).widget
        spin.lineEdit().setText(text)
        spin.editingFinishedEvent()  # what pressing Enter or leaving the box does
        section, name = key.split(".")
        value = getattr(getattr(c.config, section), name)
        meta = field_meta(section, name)
        assert meta["lo"] <= value <= meta["hi"]
        assert validated(c.config)
        assert param.value() == value  # the tree shows the value in force

    type_into()


# ---------------------------------------------------------------------------- live changes
def random_live_value(key: str, rng: random.Random) -> object:
    section, name = key.split(".")
    meta = field_meta(section, name)
    default = getattr(getattr(Config(), section), name)
    if meta["choices"]:
        # The studio here runs on 2D points: choices that need images are refused there.
        return rng.choice([c for c in meta["choices"] if c not in meta["image_only"]])
    if isinstance(default, bool):
        return rng.random() < 0.5
    lo = max(meta["lo"], LIVE_FLOORS.get(key, meta["lo"]))
    hi = min(meta["hi"], LIVE_CAPS.get(key, meta["hi"]))
    if isinstance(default, int):
        return rng.randint(int(lo), int(hi))
    if meta["log"] and lo > 0:
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return rng.uniform(lo, hi)


@pytest.mark.slow
def test_a_thousand_live_changes_while_training(studio, qtbot):
    from PySide6.QtCore import QTimer

    c = studio.controller
    failures: list[str] = []
    c.thread.failed.connect(failures.append)
    sent: list[Config] = []
    original_send = c.thread.send

    def spy(cmd):
        if isinstance(cmd, UpdateConfig):
            sent.append(cmd.config)
        original_send(cmd)

    c.thread.send = spy
    c.play()
    qtbot.waitUntil(lambda: c.state == "playing", timeout=TIMEOUT)
    rng = random.Random(8)
    done = [0]

    def tick() -> None:
        # A burst of edits per event-loop turn (a slider dragged): the throttle turns them
        # into one UpdateConfig per 40 ms, many of them while steps run.
        for _ in range(EDITS_PER_TICK):
            key = rng.choice(LIVE_KEYS)
            assert c.set_value(key, random_live_value(key, rng)), key
            done[0] += 1
        if c.state == "paused":  # a random setting made it diverge: keep it training
            c.play()
        if done[0] >= 1000:
            timer.stop()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(0)
    qtbot.waitUntil(lambda: done[0] == 1000, timeout=120_000)
    qtbot.waitUntil(lambda: not c._update_timer.isActive(), timeout=TIMEOUT)
    print(f"{done[0]} edits, {len(sent)} UpdateConfig commands sent while training")
    assert len(sent) > 10 and sent[-1] == c.config  # the last edit was sent
    trainer = c.thread.trainers[0]
    qtbot.waitUntil(lambda: trainer.config == sent[-1], timeout=TIMEOUT)
    assert trainer.pending is None  # live edits only: nothing waits for Reset
    assert not failures, failures
    assert c.thread.isRunning()


# ---------------------------------------------------------------------------- faults
def test_exception_in_the_worker_shows_in_the_window_and_pauses(studio, qtbot, monkeypatch):
    from ebm_studio.core.trainer import Trainer

    c = studio.controller
    original = Trainer.step

    def broken(self):
        raise RuntimeError("boom in step")

    monkeypatch.setattr(Trainer, "step", broken)
    studio.play_action.trigger()
    qtbot.waitUntil(lambda: "boom in step" in studio.banner.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: c.state == "paused", timeout=TIMEOUT)
    assert not studio.play_action.isChecked()
    assert "boom in step" in studio.statusBar().currentMessage()
    monkeypatch.setattr(Trainer, "step", original)  # the app stays usable
    step = studio.last_snapshot.step
    studio.step_action.trigger()
    qtbot.waitUntil(lambda: studio.last_snapshot.step == step + 1, timeout=TIMEOUT)
    studio.play_action.trigger()
    qtbot.waitUntil(lambda: studio.last_snapshot.step >= step + 5, timeout=TIMEOUT)


CLOSE_FROM_CLI = textwrap.dedent(
    """
    import sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from ebm_studio.cli import main
    from ebm_studio.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])

    def check():
        shown = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        w = shown[0] if shown else None
        if w is not None and w.last_snapshot is not None:
            if w.controller.state != "playing" and w.last_snapshot.step == 0:
                w.play_action.trigger()
            elif w.last_snapshot.step >= 5:
                print("closing", time.monotonic(), flush=True)
                w.close()  # while the worker is mid-training
                return
        QTimer.singleShot(20, check)

    QTimer.singleShot(0, check)
    sys.exit(main(["gui", "--preset", sys.argv[1]]))
    """
)


def test_closing_the_app_while_training_exits_within_two_seconds(tmp_path, small_config):
    preset = tmp_path / "small.toml"
    save_preset(small_config(), preset)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-c", CLOSE_FROM_CLI, str(preset)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as p:
        try:
            line = p.stdout.readline()
            p.wait(timeout=60)
            exited = time.monotonic()  # CLOCK_MONOTONIC: the same clock in both processes
        finally:
            if p.poll() is None:
                p.kill()
        err = p.stderr.read()
    assert line.startswith("closing"), err[-3000:]
    assert p.returncode == 0, err[-3000:]
    assert "Destroyed while thread" not in err
    close_to_exit = exited - float(line.split()[1])
    print(f"close to exit: {close_to_exit:.2f} s")
    assert close_to_exit < 2.0


def assert_outputs_absent_or_complete(out: Path) -> list[str]:
    """Each of the five outputs is either missing or complete; no temporary file is left."""
    present = []
    for name in OUTPUTS:
        path = out / name
        if not path.exists():
            continue
        present.append(name)
        if name == "config.toml":
            load_preset(path)
        elif name == "metrics.csv":
            lines = path.read_text().splitlines()
            assert lines[0].startswith("step") and len(lines) >= 2
            assert {len(line.split(",")) for line in lines} == {len(lines[0].split(","))}
        elif name == "checkpoint.safetensors":
            read_checkpoint(path)
        else:
            with Image.open(path) as im:
                im.load()
    assert not [p.name for p in out.iterdir() if p.name not in OUTPUTS]  # no .part files
    return present


def test_ctrl_c_during_cli_training_leaves_no_partial_file(tmp_path, small_args):
    out = tmp_path / "run"
    # Lighter than the shared small run: after Ctrl+C the outputs must be written within the
    # 60 s this test waits, on a loaded machine too.
    light = {"model.width": 16, "model.depth": 1, "data.n_train": 500, "data.n_test": 100}
    args = ["train", "buffer-ml", "--steps", "1000000", *small_args(**light), "--out", str(out)]
    with subprocess.Popen(
        [sys.executable, "-m", "ebm_studio.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A parent started in the background (`cmd &`, nohup) ignores SIGINT and children
        # inherit that; at a terminal Ctrl+C reaches the CLI with the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as p:
        try:
            sel = selectors.DefaultSelector()
            sel.register(p.stderr, selectors.EVENT_READ)
            seen = b""
            deadline = time.monotonic() + 120
            # Wait until the progress bar shows training steps, then press Ctrl+C.
            while not re.search(rb"\| *([1-9]\d*)/1000000", seen):
                assert time.monotonic() < deadline and p.poll() is None, seen[-2000:]
                if sel.select(timeout=1.0):
                    seen += os.read(p.stderr.fileno(), 4096)
            p.send_signal(signal.SIGINT)
            _, rest = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
    err = (seen + rest).decode(errors="replace")
    assert p.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert_outputs_absent_or_complete(out)


@pytest.mark.parametrize("interrupted_write", [1, 3, 5])
def test_ctrl_c_while_writing_outputs_leaves_no_partial_file(
    tmp_path, monkeypatch, interrupted_write, small_args
):
    # Ctrl+C lands in the middle of the n-th of the five output writes (before its fsync).
    real_fsync, calls = os.fsync, [0]

    def interrupted_fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == interrupted_write:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    out = tmp_path / "run"
    assert main(["train", "buffer-ml", "--steps", "3", *small_args(), "--out", str(out)]) == 130
    present = assert_outputs_absent_or_complete(out)
    assert len(present) == interrupted_write - 1  # those before it are complete


def no_space_left(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, small_args) -> Path:
    out = tmp_path_factory.mktemp("ckpt")
    assert main(["train", "buffer-ml", "--steps", "3", *small_args(), "--out", str(out)]) == 0
    return out / "checkpoint.safetensors"


@pytest.mark.parametrize("name", ["fig.png", "fig.svg", "chains.gif"])
def test_full_disk_during_export_gives_a_clear_message(
    checkpoint, tmp_path, monkeypatch, capsys, name
):
    monkeypatch.setattr(os, "fsync", no_space_left)
    real_save = Image.Image.save

    def save_until_full(self, fp, *args, **kwargs):  # Pillow writes GIFs without an fsync
        real_save(self, fp, *args, **kwargs)
        no_space_left(0)

    monkeypatch.setattr(Image.Image, "save", save_until_full)
    target = tmp_path / name
    if name.endswith(".gif"):
        args = ["sample", str(checkpoint), "--chains", "50", "--steps", "4", "--frames", "2"]
    else:
        args = ["plot", str(checkpoint), "--panels", "landscape", "--dpi", "60"]
    assert main([*args, "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and name in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary


def test_full_disk_during_cli_training_output_gives_a_clear_message(
    tmp_path, monkeypatch, capsys, small_args
):
    monkeypatch.setattr(os, "fsync", no_space_left)
    out = tmp_path / "run"
    assert main(["train", "buffer-ml", "--steps", "3", *small_args(), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(out) in err
    assert assert_outputs_absent_or_complete(out) == []
