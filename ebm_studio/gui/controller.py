"""The one object a window talks to about its runs; it owns the ``RunWorker``.

Panels call its methods; it validates every edit against the config metadata (a bad value is
reported and never sent), throttles bursts of edits into one ``UpdateConfig`` per tick, and
forwards the worker's signals. It holds the GUI's view of the settings: ``config`` (what the
panels show, including structural edits that wait for Reset), ``running_config`` (what the
current runs were built from) and ``overrides`` (each arm's changes to ``config``: none for the
main window's one arm, arm B's for compare mode).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from ..core.config import Config, ConfigError, SamplerConfig, structural_changes
from ..core.frames import Frame
from ..core.group import NO_OVERRIDES, Overrides, RunConfigs, arm_config, arm_configs, arm_name
from ..core.overrides import format_assignments, parse_assignments
from ..worker.commands import (
    Command,
    Load,
    LoadArms,
    MoveDevice,
    Reset,
    SampleMode,
    Save,
    SetPlaying,
    SetStepsPerFrame,
    StepOnce,
    TrainSteps,
    UpdateConfig,
)
from ..worker.thread import RunWorker
from .image_rules import conv_refusal, is_image_config

THROTTLE_MS = 40


@dataclasses.dataclass(frozen=True)
class SampleOptions:
    """Sample-mode settings (not part of a preset): chains of the frozen model."""

    n_chains: int = 2000
    start: str = "noise"
    kind: str = "langevin"
    step_size: float = 0.01
    temperature: float = 1.0
    steps: int = 1
    # Langevin noise sigma: 0 = coupled to the step, sqrt(2 eta T) (the valid sampler); > 0 =
    # decoupled at this sigma, as image EBMs are often trained and sampled (Nijkamp et al.,
    # "On the Anatomy of MCMC-Based Maximum Likelihood Learning of Energy-Based Models", 2020).
    noise: float = 0.0

    def sampler_config(self, base: SamplerConfig) -> SamplerConfig:
        return dataclasses.replace(
            base,
            kind=self.kind,
            step_size=self.step_size,
            temperature=self.temperature,
            noise_mode="decoupled" if self.noise > 0 else "coupled",
            noise=self.noise if self.noise > 0 else base.noise,
            adapt=False,
            augment="none",
        )


class Controller(QObject):
    """Owns the ``RunWorker``; everything a window asks of its runs goes through here."""

    frame_ready = Signal(object)  # Frame: every arm's Snapshot and the worker's FrameInfo
    state_changed = Signal(str)
    config_changed = Signal(object)  # the whole config was replaced (preset, checkpoint)
    config_edited = Signal(str, object)  # one validated edit: key, new Config
    run_reset = Signal(object)  # new runs started (curves clear); their RunConfigs
    pending_changed = Signal(list)  # structural keys that wait for Reset
    message_posted = Signal(str)  # short information for the status bar
    error_raised = Signal(str)  # divergence, a refused override, a failure in the worker
    sample_mode_changed = Signal(bool)
    checkpoint_saved = Signal(str)  # path
    checkpoint_loaded = Signal(str)  # path; the run was replaced by it
    checkpoints_loaded = Signal(object)  # paths, one per arm; the runs were replaced by them
    file_failed = Signal(str)  # a refused save or open: one sentence; the run is untouched

    def __init__(
        self,
        config: Config,
        points: np.ndarray | None = None,
        arms: Sequence[str | Overrides] = NO_OVERRIDES,
        *,
        health: bool = True,
        torch_threads: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``arms``: each arm's overrides of ``config``; a bad one raises ConfigError here."""
        super().__init__(parent)
        arm_configs(config, arms)  # a bad start is the caller's ConfigError
        self.config = config
        self.running_config = config
        self.points = points
        self.overrides: tuple[Overrides, ...] = tuple(
            parse_assignments(a) if isinstance(a, str) else tuple(a) for a in arms
        )
        self.state = "starting"
        self.sample_options = SampleOptions()
        self.sampling = False
        self._adopt_worker_config = False
        self.thread = RunWorker(
            config, points, self.overrides, health=health, torch_threads=torch_threads
        )
        t = self.thread
        t.frame_ready.connect(self._on_frame_ready)
        t.state_changed.connect(self._on_state_changed)
        t.reset_done.connect(self._on_reset_done)
        t.diverged.connect(self.error_raised)
        t.bound_reached.connect(self.message_posted)
        t.failed.connect(self._on_failed)
        t.saved.connect(self._on_saved)
        t.loaded.connect(self._on_loaded)
        t.arms_loaded.connect(self._on_arms_loaded)
        t.file_failed.connect(self._on_file_failed)
        self._update_timer = self._throttle(self._on_update_due)
        self._sample_timer = self._throttle(self._on_sample_update_due)
        app = QCoreApplication.instance()
        if app is not None:  # a safety net: never let Python destroy a running QThread
            app.aboutToQuit.connect(self.shutdown)

    def _throttle(self, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(THROTTLE_MS)
        timer.timeout.connect(slot)
        return timer

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.thread.start()

    def shutdown(self) -> None:
        """Stop the worker and wait for it: never destroy a running QThread."""
        self._update_timer.stop()
        self._sample_timer.stop()
        if self.thread.isRunning():
            self.thread.stop_and_wait()

    def acknowledge_frame(self) -> None:
        self.thread.acknowledge_frame()

    # ------------------------------------------------------------------ transport
    @property
    def playing(self) -> bool:
        return self.state in ("playing", "sampling")

    def play(self) -> None:
        self._send(SetPlaying(True))

    def pause(self) -> None:
        self._send(SetPlaying(False))

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def step_once(self) -> None:
        self._send(StepOnce())

    def train_steps(self, n: int) -> None:
        self._send(TrainSteps(int(n)))

    def set_steps_per_frame(self, n: int) -> None:
        self._send(SetStepsPerFrame(int(n)))

    def reset(self) -> None:
        """Rebuild the runs with every setting shown, structural ones included."""
        self._send(Reset(self.config, self.points, self.overrides))

    # ------------------------------------------------------------------ settings
    def set_value(self, key: str, value: object) -> bool:
        """Validate one edit; on success remember it and send it (throttled). On failure the
        message goes to the status bar and nothing reaches the worker."""
        refusal = conv_refusal(self.config, key, value)
        if refusal is not None:
            self.message_posted.emit(refusal)
            return False
        try:
            new = self.config.with_value(key, value)
        except ConfigError as e:
            self.message_posted.emit(str(e))
            return False
        if new == self.config:
            return True
        self.config = new
        self.config_edited.emit(key, new)
        if key == "train.device":
            # Moving keeps the run (weights, optimizer, chains, curves) instead of waiting.
            self._send(MoveDevice(str(value)))
            return True
        self.pending_changed.emit(self.pending_keys())
        if not self._update_timer.isActive():
            self._update_timer.start()
        return True

    def pending_keys(self) -> list[str]:
        return [
            k for k in structural_changes(self.running_config, self.config) if k != "train.device"
        ]

    def set_config(self, config: Config, points: np.ndarray | None = None) -> bool:
        """Replace every setting (a preset, compare mode's "Use main settings") and start new
        runs with it; every arm keeps its overrides. An override that no longer fits is
        reported through ``error_raised`` and nothing changes."""
        try:
            arm_configs(config, self.overrides)
        except ConfigError as e:
            self.error_raised.emit(str(e))
            return False
        self.config = config
        if points is not None:
            self.points = points
        self.config_changed.emit(config)
        self.reset()
        return True

    def set_data(self, name: str, points: np.ndarray | None = None, path: str = "") -> None:
        """Switch the dataset (built-in name, or "drawn" with the user's points) and reset."""
        data = dataclasses.replace(self.config.data, name=name, path=path)
        self.config = dataclasses.replace(self.config, data=data)
        if self.config.model.arch == "conv" and not is_image_config(self.config):
            # the conv energy needs images: 2D points get the MLP (said in the status bar)
            model = dataclasses.replace(self.config.model, arch="mlp")
            self.config = dataclasses.replace(self.config, model=model)
            self.message_posted.emit(f"model.arch set to mlp: {name} is 2D points")
        if points is not None:
            self.points = np.asarray(points, dtype=np.float64)
        self.config_changed.emit(self.config)
        self.reset()

    def overrides_text(self, arm: int) -> str:
        """Arm ``arm``'s overrides as typed (``objective.name=nce, ...``)."""
        return format_assignments(self.overrides[arm])

    def set_overrides(self, arm: int, text: str | Overrides) -> bool:
        """Validate one arm's overrides; on success start new runs with them. On failure the
        one-sentence reason goes to ``error_raised`` and nothing changes."""
        try:
            arm_config(self.config, text, arm_name(arm))
            pairs = parse_assignments(text) if isinstance(text, str) else tuple(text)
        except ConfigError as e:
            self.error_raised.emit(str(e))
            return False
        self.overrides = self.overrides[:arm] + (pairs,) + self.overrides[arm + 1 :]
        self.reset()
        return True

    def _on_update_due(self) -> None:
        self._send(UpdateConfig(self.config))

    def _flush_update(self) -> None:
        if self._update_timer.isActive():
            self._update_timer.stop()
            self._on_update_due()

    # ------------------------------------------------------------------ sample mode
    def set_sample_mode(self, enabled: bool) -> None:
        self.sampling = bool(enabled)
        self._send(self._sample_command(restart=enabled))
        self.sample_mode_changed.emit(self.sampling)

    def set_sample_options(self, options: SampleOptions) -> None:
        self.sample_options = options
        if self.sampling and not self._sample_timer.isActive():
            self._sample_timer.start()

    def restart_sampling(self) -> None:
        if self.sampling:
            self._send(self._sample_command(restart=True))

    def _on_sample_update_due(self) -> None:
        if self.sampling:
            self._send(self._sample_command(restart=False))

    def _sample_command(self, restart: bool) -> SampleMode:
        o = self.sample_options
        return SampleMode(
            enabled=self.sampling,
            n_chains=o.n_chains,
            start=o.start,
            sampler=o.sampler_config(self.config.sampler),
            steps=o.steps,
            restart=restart,
        )

    # ------------------------------------------------------------------ files
    def save_checkpoint(self, path: str | Path) -> None:
        self._send(Save(str(path)))

    def load_checkpoint(self, path: str | Path) -> None:
        """Replace the run with a saved one; its settings (and points) become the panel's."""
        self._adopt_worker_config = True
        self.points = None  # the worker keeps the checkpoint's own points for later resets
        self._send(Load(str(path)))

    def load_checkpoints(self, paths: Sequence[str | Path]) -> None:
        """Replace the runs with one arm per checkpoint (compare mode: A and B); arm A's
        settings become the panel's and every other arm's differences its overrides. A
        refused set is one sentence through ``file_failed`` and changes nothing."""
        self._adopt_worker_config = True
        self.points = None  # the worker keeps the checkpoints' own points for later resets
        self._send(LoadArms(tuple(str(p) for p in paths)))

    # ------------------------------------------------------------------ worker signals
    def _send(self, command: Command) -> None:
        if not isinstance(command, UpdateConfig):
            # An edit still inside the throttle goes first: a Step right after an edit must
            # use it.
            self._flush_update()
        self.thread.send(command)

    def _on_frame_ready(self, frame: Frame) -> None:
        self.frame_ready.emit(frame)

    def _on_state_changed(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _on_reset_done(self, configs: RunConfigs) -> None:
        self.running_config = configs.base
        self.overrides = configs.overrides
        if self._adopt_worker_config:
            self._adopt_worker_config = False
            self.config = configs.base
            self.config_changed.emit(configs.base)
        self.pending_changed.emit(self.pending_keys())
        self.run_reset.emit(configs)

    def _on_failed(self, message: str) -> None:
        # A failed device move leaves the run where it was: show the device it is really on.
        if self.config.train.device != self.running_config.train.device:
            device = self.running_config.train.device
            self.config = dataclasses.replace(
                self.config, train=dataclasses.replace(self.config.train, device=device)
            )
            self.config_changed.emit(self.config)
        self.error_raised.emit(message)

    def _on_saved(self, path: str) -> None:
        self.message_posted.emit(f"Saved checkpoint {path}")
        self.checkpoint_saved.emit(path)

    def _on_loaded(self, path: str) -> None:
        self.message_posted.emit(f"Opened checkpoint {path}")
        self.checkpoint_loaded.emit(path)

    def _on_arms_loaded(self, paths: tuple[str, ...]) -> None:
        names = ", ".join(f"{arm_name(i)} {p}" for i, p in enumerate(paths))
        self.message_posted.emit(f"Opened checkpoints: {names}")
        self.checkpoints_loaded.emit(paths)

    def _on_file_failed(self, message: str) -> None:
        self._adopt_worker_config = False  # a refused open changes nothing
        self.file_failed.emit(message)


__all__ = ["Controller", "SampleOptions"]
