"""The training engine's inner loop: one epoch, one evaluation, and the events and controls
around them.

``train_one_epoch`` runs the batches of a feed (``lab.batches``) through the model with bf16
autocast where the hardware has it, honouring stop and pause requests (``TrainControl``)
between batches and stopping before a diverged loss touches the weights. ``evaluate`` scores a
feed without gradients. A whole run, with its checkpoints and early stopping, is ``lab.fit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Event

import torch
import torch.nn.functional as F
from torch import nn

from lab import distributed
from lab.batches import Batches
from lab.checkpoint import EpochPosition
from lab.config import TrainConfig
from lab.device import autocast
from lab.distributed import DistContext
from lab.early_stopping import EarlyStopping
from lab.models import predict_logits
from lab.outcome import Outcome

# A batch loss this many times that of a uniform guess (ln of the class count) means the weights
# have blown up. Measured on the tiny test set with Adam: a learning rate of 0.03 spikes to 50x
# and recovers, while rates of 1 and 10 reach 10^4x to 10^7x within a few steps.
DIVERGED_LOSS_FACTOR = 1000

# --- control and events -------------------------------------------------------------------------


class TrainControl:
    """Stop and pause requests from another thread, honoured between batches."""

    def __init__(self) -> None:
        self._stop = Event()
        self._running = Event()
        self._running.set()
        # Set while the training thread is parked in ``wait_if_paused``: a pause has taken
        # hold (the batch in flight is done) and no batch runs until ``resume``.
        self.parked = Event()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def wait_if_paused(self) -> bool:
        """Block while paused; True when the run should stop now."""
        if not self._running.is_set():
            self.parked.set()
            self._running.wait()
            self.parked.clear()
        return self._stop.is_set()


@dataclass(frozen=True)
class BatchEvent:
    epoch: int
    batch: int
    batches: int
    loss: float
    images_per_s: float


@dataclass(frozen=True)
class EpochEvent:
    epoch: int
    epochs: int
    row: dict
    improved: bool
    best_epoch: int
    best_value: float | None
    patience_counter: int
    patience: int

    @classmethod
    def of(cls, row: dict, config: TrainConfig, stopper: EarlyStopping) -> EpochEvent:
        return cls(
            row["epoch"],
            config.epochs,
            row,
            stopper.improved,
            stopper.best_epoch,
            stopper.best,
            stopper.counter,
            config.patience,
        )


@dataclass(frozen=True)
class EndEvent:
    outcome: Outcome
    reason: str
    run_dir: Path
    metrics: dict


Callback = Callable[[object], None]


# --- one epoch, evaluation ----------------------------------------------------------------------


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    images: int
    seconds: float
    stopped: bool = False
    diverged: bool = False

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


class EpochTotals:
    """The running totals of an epoch in training: batches done, the loss sum and correct
    predictions (kept on the device, read only for a checkpoint or the epoch's end), images
    and seconds. A resumed epoch starts from the totals its checkpoint saved."""

    def __init__(
        self,
        device: torch.device,
        lr: float = 0.0,
        position: EpochPosition | None = None,
        *,
        counted: bool = True,
    ) -> None:
        # Under torchrun the saved totals go to one rank (``counted``), since ranks add up.
        saved = position if position is not None and counted else None
        self.batches = position.batch if position else 0
        self.loss_sum = torch.tensor(
            saved.loss_sum if saved else 0.0, device=device, dtype=torch.float64
        )
        self.correct = torch.tensor(saved.correct if saved else 0, device=device)
        self.seen = saved.seen if saved else 0
        self.lr = position.lr if position else lr  # the rate the epoch started with
        self.seconds_before = position.seconds if position else 0.0
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss_sum += loss.detach() * len(labels)
        self.correct += (logits.argmax(dim=1) == labels).sum()
        self.seen += len(labels)
        self.batches += 1

    def seconds(self) -> float:
        return self.seconds_before + _since(self.start)

    def position(self, epoch: int) -> EpochPosition | None:
        """Where the epoch stands, for a checkpoint (None before its first batch)."""
        if not self.batches:
            return None
        loss_sum, correct = float(self.loss_sum.item()), int(self.correct.item())
        return EpochPosition(
            epoch, self.batches, loss_sum, correct, self.seen, self.seconds(), self.lr
        )

    def stats(self, *, loss: float | None = None, **flags: bool) -> EpochStats:
        mean_loss = _mean(self.loss_sum, self.seen) if loss is None else loss
        return EpochStats(
            mean_loss, _mean(self.correct, self.seen), self.seen, self.seconds(), **flags
        )

    def reduce(self, context: DistContext, device: torch.device) -> None:
        """Under torchrun: the totals of every rank, summed (each rank trains its slice)."""
        totals = [self.loss_sum.item(), self.correct.item(), self.seen]
        loss_sum, correct, seen = distributed.sum_across(totals, context, device)
        self.loss_sum, self.correct = torch.tensor(loss_sum), torch.tensor(correct)
        self.seen = int(seen)


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    precision: str = "fp32",
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    label_smoothing: float = 0.0,
    control: TrainControl | None = None,
    on_batch: Callable[[int, float, float], None] | None = None,
    context: DistContext = DistContext(),
    totals: EpochTotals | None = None,
) -> EpochStats:
    """One pass over ``batches``, counted in ``totals`` (those of the batches a resumed epoch
    had done already; fresh when not given). ``on_batch`` gets each batch's index in the
    epoch, its loss and the images per second. Stops early (``stopped``) on request, or on a
    non-finite or exploded loss (``diverged``, see ``DIVERGED_LOSS_FACTOR``) before that step
    touches the weights."""
    model.train()
    totals = totals if totals is not None else EpochTotals(device)
    start, seen_before = time.perf_counter(), totals.seen
    stream = iter(batches)
    while True:
        # Asked before the next batch is drawn: a stop leaves its random draws untaken, so
        # the checkpoint of a stop holds the random state of the batches done.
        if control is not None and control.wait_if_paused():
            return totals.stats(stopped=True)
        batch = next(stream, None)
        if batch is None:
            break
        x, y = batch
        with autocast(device, precision):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        loss_value = loss.item()
        if context.enabled:  # every rank must agree to stop, or the others would wait forever
            loss_value = (
                distributed.sum_across([loss_value], context, device)[0] / context.world_size
            )
        limit = DIVERGED_LOSS_FACTOR * math.log(max(2, logits.shape[1]))
        if not math.isfinite(loss_value) or loss_value > limit:
            return totals.stats(loss=loss_value, diverged=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        totals.add(loss, logits, y)
        if on_batch is not None:
            images = context.world_size * (totals.seen - seen_before)
            on_batch(totals.batches - 1, loss_value, images / max(_since(start), 1e-9))
    if context.enabled:
        totals.reduce(context, device)
    return totals.stats()


def _mean(total: torch.Tensor, count: int) -> float:
    return float(total.item()) / count if count else float("nan")


def _since(start: float) -> float:
    return time.perf_counter() - start


def evaluate(
    model: nn.Module,
    batches: Batches,
    *,
    device: torch.device,
    precision: str = "fp32",
    tta_flip: bool = False,
    context: DistContext = DistContext(),
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over ``batches`` (no gradients, no weight changes);
    under torchrun, over the union of every rank's batches."""
    was_training = model.training
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in batches:
            logits = predict_logits(model, x, device=device, precision=precision, tta_flip=tta_flip)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == y).sum().item())
            seen += len(y)
    model.train(was_training)
    loss_sum, correct, seen = distributed.sum_across([loss_sum, correct, seen], context, device)
    return loss_sum / max(seen, 1), correct / max(seen, 1)
