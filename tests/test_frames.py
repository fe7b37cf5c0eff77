"""Typed events: what the trainer logs, how checkpoints store them, and older checkpoints."""

from __future__ import annotations

import pytest

from ebm_studio.core.checkpoint import CheckpointError, restore_trainer, save_checkpoint
from ebm_studio.core.frames import (
    ConfigChange,
    Note,
    Rollback,
    event_from_json,
    event_to_json,
)
from ebm_studio.core.trainer import Trainer

EVENTS = [
    ConfigChange(3, "sampler.step_size", 0.01, 0.05),
    ConfigChange(4, "objective.start", "data", "buffer"),
    ConfigChange(5, "sampler.adapt", False, True),
    Rollback(2, failed_at=7),
    Rollback(2, with_arm="B"),
    Note(9, "a marker from an older checkpoint"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_survives_json(event):
    assert event_from_json(event_to_json(event)) == event


def test_labels_say_what_happened():
    assert EVENTS[0].label == "step size eta 0.01 -> 0.05"
    assert EVENTS[3].label == "diverged at 7: rolled back"
    assert EVENTS[4].label == "rolled back with arm B"
    assert ConfigChange(1, "no.such", 1, 2).label == "no.such 1 -> 2"  # an unknown key


def test_checkpoints_keep_the_typed_events(tmp_path, small_config):
    t = Trainer(small_config())
    t.train(2)
    t.apply_config(t.config.with_value("sampler.step_size", 0.03))
    t.events.append(Rollback(1, failed_at=2))
    path = tmp_path / "run.safetensors"
    save_checkpoint(t, path)
    assert restore_trainer(path).events == [
        ConfigChange(2, "sampler.step_size", 0.01, 0.03),
        Rollback(1, failed_at=2),
    ]


def test_an_older_checkpoint_with_text_events_still_opens(tmp_path, monkeypatch, small_config):
    """Checkpoints written before typed events hold [step, "text"] pairs: they load as notes."""
    t = Trainer(small_config())
    t.train(2)
    tensors, meta = t.state_dict()
    meta["events"] = [[1, "step size eta 0.01 -> 0.05"], [2, "diverged at 3: rolled back"]]
    monkeypatch.setattr(Trainer, "state_dict", lambda self: (tensors, meta))
    path = tmp_path / "old.safetensors"
    save_checkpoint(t, path)
    monkeypatch.undo()
    restored = restore_trainer(path)
    assert restored.events == [
        Note(1, "step size eta 0.01 -> 0.05"),
        Note(2, "diverged at 3: rolled back"),
    ]
    assert restored.step_count == 2


@pytest.mark.parametrize(
    "events",
    [
        [{"type": "config", "step": 1, "key": "sampler.step_size", "old": [1], "new": 2}],
        [{"type": "wormhole", "step": 1}],
        [[-1, "negative step"]],
        "not a list",
    ],
)
def test_malformed_events_refuse_the_checkpoint_in_one_sentence(
    tmp_path, monkeypatch, events, small_config
):
    t = Trainer(small_config())
    tensors, meta = t.state_dict()
    meta["events"] = events
    monkeypatch.setattr(Trainer, "state_dict", lambda self: (tensors, meta))
    path = tmp_path / "bad.safetensors"
    save_checkpoint(t, path)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="bad.safetensors: has malformed metadata"):
        restore_trainer(path)
