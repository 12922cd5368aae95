"""Training dynamics on small known cases and a real run: the patience what-if and the
generalisation gap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import runs
from lab.early_stopping import EarlyStopping
from lab.errors import ConfigError
from lab.lenses.dynamics import generalisation_gap, patience_what_if

# --- patience what-if ---------------------------------------------------------------------------

VAL_ACC = [0.5, 0.6, 0.7, 0.72, 0.71, 0.72, 0.70, 0.69, 0.73]


def history_of(values, column="val_acc", first_epoch=1) -> pd.DataFrame:
    epochs = range(first_epoch, first_epoch + len(values))
    return pd.DataFrame({"epoch": list(epochs), column: values})


def test_what_if_hand_computed():
    history = history_of(VAL_ACC)
    result = patience_what_if(history, patience=2)
    # Best 0.72 at epoch 4; 0.71, 0.72 (not better) and 0.70 exceed patience 2 after epoch 7.
    assert (result.stop_epoch, result.kept_epoch, result.kept_value) == (7, 4, 0.72)
    assert result.epochs_saved == 2
    assert "stopped after epoch 7" in result.message and "epoch 4" in result.message
    # min_delta 0.03: 0.72 is not enough better than 0.70, so epoch 3 stays best.
    stricter = patience_what_if(history, patience=2, min_delta=0.03)
    assert (stricter.stop_epoch, stricter.kept_epoch) == (6, 3)
    patient = patience_what_if(history, patience=10)
    assert (patient.stop_epoch, patient.kept_epoch, patient.epochs_saved) == (None, 9, 0)
    assert "would not have stopped within the 9 recorded epochs" in patient.message


def test_what_if_reports_the_history_epoch_numbers_and_minimises_losses():
    losses = [1.0, 0.8, 0.9, 0.95, 0.7]
    result = patience_what_if(history_of(losses, "val_loss", first_epoch=11), 1, monitor="val_loss")
    assert (result.stop_epoch, result.kept_epoch) == (14, 12)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30),
    patience=st.integers(0, 6),
    min_delta=st.sampled_from([0.0, 0.01, 0.1]),
    monitor=st.sampled_from(["val_acc", "test_loss"]),
)
def test_what_if_agrees_with_the_early_stopping_object(values, patience, min_delta, monitor):
    mode = "max" if monitor.endswith("acc") else "min"
    stopper = EarlyStopping(patience=patience, mode=mode, min_delta=min_delta)
    stopped_at = None
    for value in values:
        if stopper.update(value)[0]:
            stopped_at = stopper.epoch
            break
    result = patience_what_if(history_of(values, monitor), patience, min_delta, monitor)
    assert result.stop_epoch == stopped_at
    assert result.kept_epoch == stopper.best_epoch
    assert result.kept_value == stopper.best


def test_what_if_replays_a_real_run_to_its_own_outcome(tiny_run):
    config = json.loads((tiny_run / runs.CONFIG).read_text())["train"]
    metrics = runs.read_metrics(tiny_run)
    result = patience_what_if(
        runs.read_history(tiny_run), config["patience"], config["min_delta"], config["monitor"]
    )
    assert result.kept_epoch == metrics["best_epoch"]
    assert result.kept_value == pytest.approx(metrics["best_value"])
    assert (result.stop_epoch is not None) == (metrics["outcome"] == "early_stopped")


def test_what_if_needs_a_recorded_monitor():
    history = pd.DataFrame({"epoch": [1, 2], "val_acc": [None, None], "test_acc": [0.5, 0.6]})
    with pytest.raises(ConfigError, match="recorded no val_acc"):
        patience_what_if(history, patience=2)
    with pytest.raises(ConfigError, match="unknown monitor"):
        patience_what_if(history, patience=2, monitor="accuracy")
    assert patience_what_if(history, 2, monitor="test_acc").kept_epoch == 2


# --- generalisation gap -------------------------------------------------------------------------

TRAIN_LOSS = [2.0, 1.6, 1.3, 1.1, 0.9, 0.75, 0.6, 1.0, 0.5, 0.4]
VAL_LOSS = [2.1, 1.7, 1.5, 1.4, 1.3, 1.35, 1.4, 1.5, 2.1, 1.6]


def gap_history(train_loss, held_out_loss, split="val") -> pd.DataFrame:
    n = len(train_loss)
    other = "test" if split == "val" else "val"
    return pd.DataFrame(
        {
            "epoch": range(1, n + 1),
            "train_loss": train_loss,
            "train_acc": np.linspace(0.3, 0.9, n),
            f"{split}_loss": held_out_loss,
            f"{split}_acc": np.linspace(0.25, 0.6, n),
            f"{other}_loss": [None] * n,
            f"{other}_acc": [None] * n,
        }
    )


def test_gap_marks_overfitting_onset_and_spikes():
    report = generalisation_gap(gap_history(TRAIN_LOSS, VAL_LOSS))
    assert report.split == "val"
    assert report.onset_epoch == 5
    assert [(e.epoch, e.kind) for e in report.events] == [
        (5, "overfitting"),
        (8, "train_loss_spike"),
        (9, "eval_loss_spike"),
    ]
    assert "overfitting" in report.events[0].message
    assert "0.600 to 1.000" in report.events[1].message
    frame = report.frame
    assert frame["acc_gap"].to_numpy() == pytest.approx(frame["train_acc"] - frame["val_acc"])
    assert frame["loss_gap"].tolist() == pytest.approx(
        [v - t for t, v in zip(TRAIN_LOSS, VAL_LOSS, strict=True)]
    )


def test_no_onset_while_validation_still_improves_or_training_stalls():
    improving = generalisation_gap(gap_history([2.0, 1.5, 1.2, 1.0], [2.1, 1.8, 1.6, 1.5]))
    assert improving.onset_epoch is None and improving.events == ()
    # Validation best one epoch before the end: too early to call.
    one_after = generalisation_gap(gap_history([2.0, 1.5, 1.2, 1.0], [2.1, 1.8, 1.6, 1.7]))
    assert one_after.onset_epoch is None
    # Both get worse after epoch 2: not overfitting (the training loss did not keep falling).
    stalled = generalisation_gap(gap_history([2.0, 1.5, 1.6, 1.7], [2.1, 1.8, 1.9, 2.0]))
    assert stalled.onset_epoch is None


def test_gap_falls_back_to_the_test_split():
    report = generalisation_gap(gap_history(TRAIN_LOSS, VAL_LOSS, split="test"))
    assert report.split == "test"
    assert "test_acc" in report.frame.columns and report.onset_epoch == 5
    assert "test loss" in report.events[-1].message
    nothing = gap_history(TRAIN_LOSS, [None] * 10)
    with pytest.raises(ConfigError, match="recorded no"):
        generalisation_gap(nothing)


def test_gap_of_a_real_run(tiny_run):
    report = generalisation_gap(runs.read_history(tiny_run))
    assert report.split == "val"
    assert report.frame["epoch"].tolist() == [1, 2]
