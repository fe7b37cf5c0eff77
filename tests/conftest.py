"""Shared test set-up: Qt runs headless, no test may leave a QThread running, and the GUI
tests' harness: a tiny config, the worker on its own, the main window and the compare window,
each with what it emitted and helpers to wait on it (never fixed sleeps)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

# Before any Qt import (pytest-qt imports Qt when it loads): no display needed.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest  # noqa: E402

from ebm_studio.core.config import Config  # noqa: E402

TIMEOUT = 60_000  # ms a GUI test waits for a condition; generous for a loaded CI machine

# What makes a run cheap (sizes only, no change of method): shared by every small test run,
# in-process (``small_config``) or through the CLI (``small_args``).
SIZES = {
    "model.width": 32,
    "model.depth": 2,
    "data.n_train": 2000,
    "data.n_test": 500,
    "sampler.steps": 5,
    "sampler.n_chains": 64,
    "buffer.size": 64,
    "train.batch_size": 64,
    "train.grid_res": 32,
}

SMALL = {
    **SIZES,
    "objective.start": "persistent",  # chain i of one frame is chain i of the next
    "train.eval_every": 100_000,
    "view.resolution": 32,
    "view.fps": 60,
}


def tiny_config(**overrides: object) -> Config:
    """A run small enough to train live in a test: ``SMALL`` with ``overrides`` applied."""
    cfg = Config()
    for key, value in {**SMALL, **overrides}.items():
        cfg = cfg.with_value(key, value)
    return cfg


@pytest.fixture
def small_config() -> Callable[..., Config]:
    """``small_config(**{"section.key": value})``: a tiny run for GUI, worker and core tests."""
    return tiny_config


def small_cli_args(**overrides: object) -> list[str]:
    """``--set key=value`` arguments for a CLI run of ``SIZES`` that evaluates every 10 steps,
    with ``overrides`` (same keys) applied."""
    values = {**SIZES, "train.eval_every": 10, **overrides}
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="session")
def small_args() -> Callable[..., list[str]]:
    """``small_args(**{"section.key": value})``: the CLI arguments of a small run."""
    return small_cli_args


@pytest.fixture
def wait(qtbot) -> Callable[..., None]:
    """``wait(condition)``: process Qt events until ``condition()`` holds (or fail)."""

    def waiter(condition: Callable[[], object], timeout: int = TIMEOUT) -> None:
        qtbot.waitUntil(condition, timeout=timeout)

    return waiter


class WorkerHarness:
    """A ``RunWorker`` plus everything it emitted; acknowledges frames unless told not to."""

    def __init__(self, qtbot, config: Config, auto_ack: bool = True, **kwargs) -> None:
        from ebm_studio.worker.thread import RunWorker

        self.qtbot = qtbot
        self.thread = RunWorker(config, **kwargs)
        self.frames: list = []
        self.states: list[str] = []
        self.errors: list[str] = []
        self.diverged: list[str] = []
        self.resets: list = []
        self.auto_ack = auto_ack
        self.thread.frame_ready.connect(self._on_frame_ready)
        self.thread.state_changed.connect(self.states.append)
        self.thread.failed.connect(self.errors.append)
        self.thread.diverged.connect(self.diverged.append)
        self.thread.reset_done.connect(self.resets.append)

    def _on_frame_ready(self, frame) -> None:
        self.frames.append(frame)
        if self.auto_ack:
            self.thread.acknowledge_frame()

    @property
    def last(self):
        """The newest frame."""
        return self.frames[-1]

    @property
    def snapshots(self) -> list:
        """Arm 0's snapshot of every frame."""
        return [f.arms[0] for f in self.frames]

    def wait(self, condition: Callable[[], object]) -> None:
        self.qtbot.waitUntil(condition, timeout=TIMEOUT)

    def start(self) -> WorkerHarness:
        self.thread.start()
        self.wait(lambda: bool(self.frames))
        return self

    def wait_step(self, step: int):
        """Wait for a frame at exactly ``step`` (paused runs emit one frame per StepOnce)."""
        self.wait(lambda: any(f.step == step for f in self.frames))
        return next(f for f in self.frames if f.step == step)

    def wait_state(self, state: str) -> None:
        self.wait(lambda: self.states and self.states[-1] == state)

    def stop(self) -> None:
        assert self.thread.stop_and_wait(TIMEOUT)


@pytest.fixture
def worker(qtbot):
    """``worker(config=None, **RunWorker kwargs)``: a harness, stopped after the test."""
    made: list[WorkerHarness] = []

    def make(config: Config | None = None, **kwargs) -> WorkerHarness:
        h = WorkerHarness(qtbot, config or tiny_config(), **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


class WindowHarness:
    """A shown ``MainWindow`` on a tiny run, the frames its controller emitted, the refused
    files, and helpers to train and wait."""

    def __init__(self, qtbot, config: Config | None = None, **kwargs) -> None:
        from ebm_studio.gui.main_window import MainWindow

        self.qtbot = qtbot
        self.w = MainWindow(config or tiny_config(), **kwargs)
        qtbot.addWidget(self.w)
        self.c = self.w.controller
        self.frames: list = []
        self.errors: list[str] = []
        self.c.frame_ready.connect(self.frames.append)
        self.c.file_failed.connect(self.errors.append)
        self.w.show()
        self.wait(lambda: bool(self.frames) and self.c.state == "paused")

    @property
    def last(self):
        """The newest frame."""
        return self.frames[-1]

    @property
    def snap(self):
        """The newest frame's snapshot of the one run."""
        return self.frames[-1].arms[0]

    @property
    def trainer(self):
        """The worker's trainer: read only while the worker is paused."""
        return self.c.thread.trainers[0]

    def wait(self, condition: Callable[[], object]) -> None:
        self.qtbot.waitUntil(condition, timeout=TIMEOUT)

    def wait_state(self, state: str) -> None:
        self.wait(lambda: self.c.state == state)

    def new_run_frame(self, since: int):
        """The first frame of a run started after frame number ``since`` (it carries the
        run's static layers: data points and, for exact datasets, the true density)."""

        def found():
            return next((f for f in self.frames[since:] if f.arms[0].static is not None), None)

        self.wait(lambda: found() is not None)
        return found()

    def train(self, n: int) -> int:
        """Train ``n`` more steps and wait until the window has received the last one."""
        target = self.frames[-1].step + n
        self.c.train_steps(n)
        self.wait(lambda: self.frames[-1].step == target and self.c.state == "paused")
        return target

    def params(self) -> dict:
        return {k: v.detach().clone() for k, v in self.trainer.model.state_dict().items()}


@pytest.fixture
def window(qtbot):
    """``window(config=None, **MainWindow kwargs)``: a shown main window (closed by qtbot)."""

    def make(config: Config | None = None, **kwargs) -> WindowHarness:
        return WindowHarness(qtbot, config, **kwargs)

    return make


@pytest.fixture
def compare(qtbot):
    """``compare(overrides=None, **config overrides)``: a shown compare window whose first
    frame arrived (evaluating every 5 steps, so the sparse curves fill); closed after."""
    from ebm_studio.gui.compare import CompareWindow

    made: list = []

    def make(overrides: str | None = None, **over) -> CompareWindow:
        config = tiny_config(**{"train.eval_every": 5, **over})
        w = CompareWindow(config, overrides=overrides, torch_threads=1)
        qtbot.addWidget(w)
        made.append(w)
        w.show()
        qtbot.waitUntil(lambda: w.last_frame is not None, timeout=TIMEOUT)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture(autouse=True)
def _no_leftover_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (napari's check): record every QThread
    started during the test, and after it (and its widgets) are torn down, none may run."""
    if "PySide6.QtCore" not in sys.modules:  # a test that never touches Qt
        yield
        return
    from PySide6.QtCore import QThread

    started: list[QThread] = []
    original = QThread.start

    def recording_start(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield
    leftover = [t for t in started if t.isRunning()]
    for t in leftover:  # stop them so that one failure does not cascade into the next tests
        stop = getattr(t, "request_stop", None) or t.requestInterruption
        stop()
        t.wait(30_000)
    if leftover:
        names = ", ".join(type(t).__name__ for t in leftover)
        pytest.fail(f"test left {len(leftover)} QThread(s) running: {names}")


def pytest_terminal_summary(terminalreporter):
    """Print the table of presets trained in this session (KL reached, seconds): the numbers
    the README and closing notes quote come from here."""
    mod = sys.modules.get("preset_runs")
    if mod is None or not mod.train_preset.cache_info().currsize:
        return
    tr = terminalreporter
    tr.section("presets trained in this session")
    tr.write_line(f"{'preset':<18} {'dataset':<12} {'KL':>7} {'bound':>6} {'logZ err':>9} "
                  f"{'steps':>6} {'seconds':>8} {'CPU s':>6} {'steps/s':>8}")  # fmt: skip
    for run in mod.completed_runs():
        f = run.final
        err = f.get("log_z_error")
        steps = run.preset.config.train.steps
        tr.write_line(
            f"{run.preset.name:<18} {run.dataset:<12} {f.get('kl', float('nan')):>7.3f} "
            f"{run.preset.kl_bound.get(run.dataset, float('nan')):>6.2f} "
            f"{'-' if err is None else f'{err:.3f}':>9} {steps:>6} {run.seconds:>8.1f} "
            f"{run.cpu_seconds:>6.1f} {steps / run.seconds:>8.1f}"
            + (f"  [{run.arm}]" if run.arm else "")
        )
