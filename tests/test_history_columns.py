"""Long sessions: the metric history as columns (CSV and checkpoint round trips, a checkpoint's
size per step) and the curves' min/max reduction to the plot's width."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_studio.core.checkpoint import restore_trainer, save_checkpoint
from ebm_studio.core.history import History, metrics_csv, read_metrics_csv
from ebm_studio.core.reduce import BASE, MinMaxPyramid
from ebm_studio.core.trainer import Trainer


def synthetic_history(n: int, seed: int = 0) -> History:
    """Dense metrics every step (one missing now and then, one appearing late) and evaluation
    metrics every 7th step."""
    rng = np.random.default_rng(seed)
    h = History()
    for step in range(1, n + 1):
        row = {"step": float(step), "loss": float(rng.normal()), "lr": 1e-3}
        if step % 5:
            row["gap"] = float(rng.normal())
        if step > n // 2:
            row["acceptance"] = float(rng.uniform())
        evals = {"kl": float(rng.uniform()), "nll": float(rng.normal())} if step % 7 == 0 else None
        h.append(row, evals)
    return h


def assert_same_history(a: History, b: History) -> None:
    x, y = a.to_arrays(), b.to_arrays()
    assert sorted(x) == sorted(y)
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)  # NaN equals NaN here


def test_history_keeps_evaluation_metrics_only_at_evaluation_steps():
    h = synthetic_history(70)
    assert len(h) == 70 and h.evals.n == 10  # steps 7, 14, ..., 70
    assert "kl" not in h.dense.cols and "loss" not in h.evals.cols
    assert h[6]["kl"] == h.column("kl")[1][0] and "kl" not in h[5]
    assert "gap" not in h[4] and "acceptance" not in h[0]  # NaN: not computed there
    rows = list(h)
    assert History.from_rows(rows).to_arrays().keys() == h.to_arrays().keys()
    h.truncate_after(20)  # a rollback to step 20: steps 21.. and their evaluations go
    assert len(h) == 20 and h.evals.n == 2 and h[-1]["step"] == 20


def test_history_round_trips_through_metrics_csv_exactly():
    h = synthetic_history(300)
    text = metrics_csv(h)
    assert text == metrics_csv(list(h))  # the same text as from dict rows
    back = read_metrics_csv(text)
    assert_same_history(h, back)
    assert metrics_csv(back) == text
    with pytest.raises(ValueError, match="line 3"):
        read_metrics_csv(text.replace("\n2,", "\nx,", 1))


def test_history_round_trips_through_a_checkpoint_exactly(small_config, tmp_path):
    t = Trainer(small_config(**{"train.eval_every": 3}))
    t.train(7)
    path = tmp_path / "run.safetensors"
    save_checkpoint(t, path)
    back = restore_trainer(path)
    assert_same_history(t.history, back.history)
    assert back.history.evals.n == 2 and np.isnan(back.history.dense.column("step")).sum() == 0


def test_a_checkpoint_grows_by_the_columns_bytes_per_step(small_config, tmp_path):
    """float32 steps and per-step metrics, float64 evaluation metrics (core/history.py)."""
    t = Trainer(small_config())
    sizes = {}
    for n in (1000, 5000):
        t.history = synthetic_history(n)
        save_checkpoint(t, tmp_path / f"{n}.safetensors")
        sizes[n] = (tmp_path / f"{n}.safetensors").stat().st_size
    dense_cols = len(t.history.dense.cols)  # step, loss, lr, gap, acceptance
    eval_bytes = 8 * (len(t.history.evals.cols) + 1)  # kl, nll, step and the int64 row index
    expected = 4000 * 4 * dense_cols + (5000 // 7 - 1000 // 7) * eval_bytes
    # Beyond the columns only the JSON header's offsets (a few more digits) may differ.
    assert expected <= sizes[5000] - sizes[1000] <= expected + 512


def test_an_older_checkpoints_history_matrix_still_loads(small_config, tmp_path):
    import torch

    from ebm_studio.core.trainer import history_from_tensors

    cols = ["kl", "loss", "step"]
    matrix = torch.tensor([[np.nan, 0.5, 1.0], [0.25, 0.4, 2.0]], dtype=torch.float64)
    h = history_from_tensors({"history": matrix}, {"history_columns": cols})
    assert list(h) == [{"loss": 0.5, "step": 1.0}, {"loss": 0.4, "step": 2.0, "kl": 0.25}]


@pytest.mark.parametrize("width", [1, 37, 300, 1000])
def test_the_curve_reduction_keeps_every_min_and_max_of_each_pixel_column(width):
    rng = np.random.default_rng(width)
    n = 200_003
    y = np.cumsum(rng.normal(size=n))
    y[rng.uniform(size=n) < 0.05] = np.nan  # metrics not computed at some steps
    y[5000:9000] = np.nan  # nor over a whole stretch
    x = np.arange(1, n + 1, dtype=float)
    pyramid = MinMaxPyramid()
    for end in (10_000, 10_001, 150_000, n):  # updated as rows arrive
        pyramid.update(y[:end])
    for i0, i1 in [(0, n), (12_345, 150_000), (777, 777 + 40 * width), (3, 3 + 2 * width)]:
        xs, ys, edges = pyramid.reduce(x, y, i0, i1, width)
        assert edges[0] == i0 and edges[-1] == i1 and np.all(np.diff(edges) > 0)
        if len(xs) == i1 - i0:  # few rows in view: drawn in full
            np.testing.assert_array_equal(ys, y[i0:i1])
            continue
        assert len(edges) - 1 < 2 * width + 2  # bins: about two per pixel column
        for j in range(len(edges) - 1):
            part = y[edges[j] : edges[j + 1]]
            lo, hi = np.fmin.reduce(part), np.fmax.reduce(part)  # skip NaN, as a plot does
            np.testing.assert_array_equal(ys[2 * j : 2 * j + 2], [lo, hi])
            assert xs[2 * j] == x[edges[j]]


def test_a_rollback_invalidates_the_summaries_of_the_rows_it_rewrote():
    y = np.zeros(10 * BASE)
    pyramid = MinMaxPyramid()
    pyramid.update(y)
    y[3 * BASE + 1] = 5.0  # rows from 3 BASE were undone and logged again
    pyramid.invalidate(3 * BASE)
    pyramid.update(y)
    _, ys, _ = pyramid.reduce(np.arange(len(y), dtype=float), y, 0, len(y), 2)
    assert ys.max() == 5.0


def test_the_trainers_events_are_bounded_and_none_is_lost_to_the_frames(small_config, monkeypatch):
    import ebm_studio.core.trainer as trainer_module
    from ebm_studio.core.frames import Note

    monkeypatch.setattr(trainer_module, "MAX_EVENTS", 5)
    t = Trainer(small_config())
    t.events.extend(Note(i, "edit") for i in range(12))
    assert len(t.snapshot(grid=False).events) == 12  # every unsent event leaves with a frame
    assert [e.step for e in t.events] == [7, 8, 9, 10, 11]  # the newest kept
    t.events.append(Note(12, "edit"))
    assert [e.step for e in t.snapshot(grid=False).events] == [12]


def test_frames_carry_a_view_of_the_trainers_columns_not_a_copy(small_config, qtbot, monkeypatch):
    """The curves read the trainer's own columns (one copy of an overnight history, not two):
    a frame's view shares their memory, keeps its length while the worker appends, and is
    read-only. Past ``MAX_SNAPSHOT_ROWS`` unsent rows (an opened overnight checkpoint) the
    frame carries no row dicts, only the view."""
    import ebm_studio.core.trainer as trainer_module
    from ebm_studio.gui.curves import CurvesPanel

    monkeypatch.setattr(trainer_module, "MAX_SNAPSHOT_ROWS", 10)
    t = Trainer(small_config())
    t.train(3)
    first = t.snapshot(grid=False)
    assert len(first.rows) == 3 and first.history.is_view and len(first.history) == 3
    assert np.shares_memory(first.history.dense.column("loss"), t.history.dense.column("loss"))
    t.train(2)
    assert len(first.history) == 3 and len(t.history) == 5
    with pytest.raises(RuntimeError, match="read-only"):
        first.history.append({"step": 6.0})
    t.history = synthetic_history(50)
    snap = t.snapshot(grid=False)
    assert snap.rows == () and len(snap.history) == 50
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.add_snapshot(first)
    panel.add_snapshot(snap)
    assert_same_history(panel.data.history, t.history)
    assert len(panel.series["kl"].data()[0]) == 50 // 7


def test_a_rollback_after_a_frame_redraws_the_rewritten_rows():
    """A divergence rollback truncates the trainer's columns and writes the undone steps again
    in the same memory the curves already summarised: the next view says so and the curves
    redraw those rows from the new values, as a panel that saw only the new rows would."""
    from ebm_studio.core.frames import Snapshot
    from ebm_studio.gui.curve_data import CurveData

    def frame(h: History) -> Snapshot:
        return Snapshot(0, 1.0, None, None, None, None, None, None, history=h.view())

    h = History()
    for step in range(1, 1001):
        h.append({"step": float(step), "loss": 1.0})
    shown = CurveData()
    shown.add_snapshot(frame(h))
    shown.view("loss").display(8)  # summarises the complete blocks
    h.truncate_after(100.0)
    for step in range(101, 1001):
        h.append({"step": float(step), "loss": 5.0 + step % 3})
    assert shown.add_snapshot(frame(h))
    fresh = CurveData()
    fresh.add_snapshot(frame(History.from_arrays(h.to_arrays())))
    for width in (8, 40):
        got, want = shown.view("loss").display(width), fresh.view("loss").display(width)
        np.testing.assert_array_equal(got[1], want[1])
        assert got[1].max() == 7.0


def test_the_step_column_stays_exact_past_float32s_integers():
    """Steps are float32 (4 bytes) while float32 holds them exactly, float64 from 2^24 + 1 on:
    an overnight run at 600 steps/s passes 2^24 in under eight hours."""
    h = History()
    for step in (1.0, 2.0**24, 2.0**24 + 1, 2.0**24 + 3):
        h.append({"step": step, "loss": 0.1})
    assert list(h.dense.column("step")) == [1.0, 2.0**24, 2.0**24 + 1, 2.0**24 + 3]
    assert h[2]["step"] == 2.0**24 + 1 and h[2]["loss"] == 0.1
    assert History.from_arrays(h.to_arrays())[3]["step"] == 2.0**24 + 3
    small = History()
    small.append({"step": 3.0, "loss": 0.5})
    assert small.dense.column("step").dtype == np.float32  # 4 bytes a step until then
