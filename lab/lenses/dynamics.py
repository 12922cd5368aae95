"""Training dynamics: how a run's training went, read from its recorded history.

* the patience what-if: a replay of early stopping with other settings on the recorded values;
* the generalisation gap between the training and held-out losses, with the onset of
  overfitting and the loss spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.config import TrainConfig
from lab.early_stopping import replay
from lab.errors import ConfigError

# An epoch's loss at least this many times the previous epoch's is flagged as a spike.
SPIKE_FACTOR = 1.3
# Epochs that must follow the best validation loss before it is called the onset of overfitting:
# one worse epoch is noise, two in a row a trend.
OVERFIT_MIN_EPOCHS_AFTER = 2


# --- training dynamics --------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    """Where early stopping with other settings would have stopped a recorded run.

    ``stop_epoch`` is the last epoch that would have run (None: no stop within the record);
    ``kept_epoch`` the epoch whose weights ``best.pt`` would hold, with its monitored value.
    """

    monitor: str
    patience: int
    min_delta: float
    stop_epoch: int | None
    kept_epoch: int | None
    kept_value: float | None
    epochs_recorded: int
    reason: str | None

    @property
    def epochs_saved(self) -> int:
        """Recorded epochs that would not have run."""
        return self.epochs_recorded - self.stop_epoch if self.stop_epoch is not None else 0

    @property
    def message(self) -> str:
        if self.kept_epoch is None:
            return "No epochs recorded yet."
        kept = f"best.pt would hold epoch {self.kept_epoch} ({self.monitor} {self.kept_value:.4f})"
        if self.stop_epoch is None:
            return (
                f"With patience {self.patience} and min_delta {self.min_delta:g}, training would "
                f"not have stopped within the {self.epochs_recorded} recorded epochs; {kept}."
            )
        return (
            f"With patience {self.patience} and min_delta {self.min_delta:g}, training would "
            f"have stopped after epoch {self.stop_epoch} ({self.epochs_saved} fewer epochs); "
            f"{kept}."
        )


def patience_what_if(
    history: pd.DataFrame, patience: int, min_delta: float = 0.0, monitor: str = "val_acc"
) -> WhatIf:
    """Replay a run's recorded ``history`` (``lab.runs.read_history``) through early stopping.

    Beyond the record nothing is known: a run that itself stopped early cannot say what a
    larger patience would have found later.
    """
    mode = TrainConfig(monitor=monitor).monitor_mode  # validates the monitor name too
    if monitor not in history.columns or history[monitor].isna().all():
        raise ConfigError(
            f"this run recorded no {monitor}: choose a monitor it has "
            "(test_acc/test_loss for runs without a validation split)"
        )
    values = history[monitor].astype(float).tolist()
    epochs = history["epoch"].astype(int).tolist()
    outcome = replay(values, patience=patience, mode=mode, min_delta=min_delta)
    stop, best = outcome["stop_epoch"], outcome["best_epoch"]
    return WhatIf(
        monitor=monitor,
        patience=patience,
        min_delta=min_delta,
        stop_epoch=epochs[stop - 1] if stop else None,
        kept_epoch=epochs[best - 1] if best else None,
        kept_value=values[best - 1] if best else None,
        epochs_recorded=len(values),
        reason=outcome["reason"],
    )


@dataclass(frozen=True)
class GapEvent:
    """One marked epoch of the generalisation-gap chart, with a sentence for a learner."""

    epoch: int
    kind: str  # "overfitting", "train_loss_spike" or "eval_loss_spike"
    message: str


@dataclass(frozen=True)
class GapReport:
    """Train versus held-out metrics per epoch.

    ``frame`` columns: ``epoch``, ``train_acc``, ``<split>_acc``, ``train_loss``,
    ``<split>_loss``, ``acc_gap`` (train - held-out accuracy) and ``loss_gap`` (held-out - train
    loss): both are positive when the model does better on the images it trained on. With label
    smoothing the training loss includes the smoothing term, so ``loss_gap`` reads low.
    """

    split: str  # "val", or "test" for runs without a validation split
    frame: pd.DataFrame
    onset_epoch: int | None
    events: tuple[GapEvent, ...]


def generalisation_gap(
    history: pd.DataFrame, split: str | None = None, spike_factor: float = SPIKE_FACTOR
) -> GapReport:
    """The gap between training and held-out metrics, the onset of overfitting and loss spikes.

    The onset is the epoch of the lowest held-out loss when at least two epochs follow it and
    training loss kept falling after it. A spike is an epoch whose loss is ``spike_factor``
    times the previous epoch's or more. ``split`` defaults to ``val`` when recorded, else
    ``test``.
    """
    if split is None:
        split = "val" if _recorded(history, "val_loss") else "test"
    if split not in ("val", "test"):
        raise ConfigError(f"unknown split '{split}': choose val or test")
    if not _recorded(history, f"{split}_loss"):
        raise ConfigError(
            f"this run recorded no {split} metrics: train with a validation split or --eval-test"
        )
    frame = history[["epoch", "train_acc", f"{split}_acc", "train_loss", f"{split}_loss"]].copy()
    frame = frame.dropna(subset=[f"{split}_loss"]).reset_index(drop=True)
    frame["acc_gap"] = frame["train_acc"] - frame[f"{split}_acc"]
    frame["loss_gap"] = frame[f"{split}_loss"] - frame["train_loss"]
    epochs = frame["epoch"].astype(int).to_numpy()
    train = frame["train_loss"].to_numpy(dtype=float)
    held_out = frame[f"{split}_loss"].to_numpy(dtype=float)
    name = "validation" if split == "val" else "test"
    events: list[GapEvent] = []

    onset = None
    if len(held_out):
        best = int(np.argmin(held_out))
        after = train[best + 1 :]
        if len(after) >= OVERFIT_MIN_EPOCHS_AFTER and after.min() < train[best]:
            onset = int(epochs[best])
            events.append(
                GapEvent(
                    onset,
                    "overfitting",
                    f"From epoch {onset} the {name} loss stopped improving while the training "
                    "loss kept falling: the model began memorising its training images "
                    "(overfitting); stronger augmentation, dropout or weight decay, or stopping "
                    "here, would help.",
                )
            )
    for i in range(1, len(frame)):
        if train[i] >= spike_factor * train[i - 1]:
            events.append(
                GapEvent(
                    int(epochs[i]),
                    "train_loss_spike",
                    f"Training loss jumped from {train[i - 1]:.3f} to {train[i]:.3f} in epoch "
                    f"{epochs[i]}: some updates overshot, usually a learning rate too high for "
                    "this stage of training.",
                )
            )
        if held_out[i] >= spike_factor * held_out[i - 1]:
            events.append(
                GapEvent(
                    int(epochs[i]),
                    "eval_loss_spike",
                    f"The {name} loss jumped from {held_out[i - 1]:.3f} to {held_out[i]:.3f} in "
                    f"epoch {epochs[i]}: the model became confidently wrong on some images, "
                    "often one unlucky epoch at a high learning rate.",
                )
            )
    events.sort(key=lambda event: event.epoch)
    return GapReport(split, frame, onset, tuple(events))


def _recorded(history: pd.DataFrame, column: str) -> bool:
    return column in history.columns and bool(history[column].notna().any())
