"""A whole run: ``fit`` trains (or resumes) a run folder as named steps, and its saving policy.

``fit`` writes ``last.pt`` after every epoch and ``best.pt`` on every improvement, atomically, so
a run killed at any moment resumes from its last completed epoch with the same history,
early-stopping state and random streams (``ModelCheckpoint`` owns that policy). The epochs
themselves run through ``lab.train``, fed by ``lab.batches`` and optimised by ``lab.optim``.
"""

from __future__ import annotations

import contextlib
import errno
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lab import distributed, runs
from lab.augment import preprocess_batch
from lab.batches import epoch_batches, eval_batches, usable_batch_size
from lab.checkpoint import (
    EpochPosition,
    ResumeState,
    load_model,
    read_resume_state,
    training_payload,
)
from lab.config import RunConfig
from lab.data import ImageSet, Splits
from lab.device import keep_freed_memory, pick_device, resolve_precision
from lab.distributed import DistContext
from lab.early_stopping import EarlyStopping
from lab.errors import CheckpointError, LabError
from lab.evaluate import evaluate_model
from lab.io import atomic_save
from lab.launch import PreparedRun
from lab.locks import RunLock
from lab.models import build_model, init_whitening
from lab.optim import make_optimizer, make_scheduler
from lab.outcome import Outcome
from lab.stored_evaluation import save_evaluation
from lab.train import (
    BatchEvent,
    Callback,
    EndEvent,
    EpochEvent,
    EpochStats,
    EpochTotals,
    TrainControl,
    evaluate,
    train_one_epoch,
)

# Training images the whitening stem of alexnet_whitened is computed from (airbench's 5,000: the
# 12x12 patch covariance is settled long before that).
WHITEN_SAMPLE = 5000

# --- a whole run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    run_dir: Path
    history: list[dict]
    outcome: Outcome
    reason: str
    metrics: dict


@dataclass
class TrainState:
    """What the named steps of ``fit`` share and move on, in one object as nanoGPT's and
    torchvision's training loops keep theirs: the run (config, data, folder), where it trains,
    the model with its optimizer, schedule and early stopping, and how far it has got."""

    config: RunConfig
    splits: Splits
    run_dir: Path
    device: torch.device
    precision: str  # resolved: "fp32" or "bf16"
    context: DistContext
    model: nn.Module  # the plain model (DDP wraps it for training only)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    stopper: EarlyStopping
    steps: int  # training batches per epoch
    history: list[dict] = field(default_factory=list)
    # How the run ended (None while it goes on) and why, in words.
    outcome: Outcome | None = None
    reason: str = ""
    # Where a resumed run stopped inside the first epoch it trains (None: at its start).
    position: EpochPosition | None = None
    # The moment the run's clock reads zero: a resumed run's is earlier by the time it trained.
    started: float = field(default_factory=time.perf_counter)

    def elapsed_s(self) -> float:
        """Seconds of training, those before a resume included."""
        return time.perf_counter() - self.started

    def payload(self, position: EpochPosition | None = None) -> dict:
        """What ``best.pt`` and ``last.pt`` hold now (``lab.checkpoint.training_payload``),
        ``position`` inside the epoch in training when written part-way through it."""
        return training_payload(
            self.config, self.splits, self.model, self.optimizer, self.scheduler, self.stopper,
            self.history, self.elapsed_s(), self.outcome, self.reason, position,
        )  # fmt: skip


class ModelCheckpoint:
    """The saving policy of a run, as Lightning's ``ModelCheckpoint`` owns it, and its one
    writer (``one_writer``): ``last.pt`` and
    ``history.csv`` after every epoch, ``best.pt`` whenever the monitored score improved, and
    ``last.pt`` inside an epoch at most every ``every_s`` seconds (with the epoch's position,
    so a crash loses at most that much) and when the user stops the run. All are written
    atomically by the main process only (under torchrun, rank 0, at epoch ends only: a
    position holds one process's totals)."""

    def __init__(self, run_dir: Path, every_s: float, context: DistContext = DistContext()) -> None:
        self.run_dir = run_dir
        self.every_s = every_s
        self.enabled = context.is_main
        self.within_epochs = context.is_main and not context.enabled
        self.saved_at = time.monotonic()

    def one_writer(self) -> contextlib.AbstractContextManager:
        """The run's lock (``lab.locks``) for as long as it trains: a second writer is refused,
        naming this process."""
        return RunLock(self.run_dir) if self.enabled else contextlib.nullcontext()

    def start(self, config: RunConfig) -> None:
        """A run from epoch 1: its config first, so even a run killed in epoch 1 can be
        resumed. A run started again (``lab.launch.prepare_resume`` found no usable
        ``last.pt``) also drops what the killed attempt left: the temp file of a write cut
        short, and the unusable ``last.pt``."""
        if self.enabled:
            runs.remove_temp_files(self.run_dir)
            (self.run_dir / runs.LAST).unlink(missing_ok=True)
            with disk_errors(self.run_dir):
                runs.write_config(self.run_dir, config)

    def recover(self, config: RunConfig, history: list[dict]) -> None:
        """A resumed run: a kill can land after ``last.pt`` and before ``history.csv``, or in
        the middle of a write, leaving the temp file of an atomic write behind; a deleted
        ``config.json`` is written again from ``last.pt``."""
        if self.enabled:
            runs.remove_temp_files(self.run_dir)
            with disk_errors(self.run_dir):
                if not (self.run_dir / runs.CONFIG).exists():
                    runs.write_config(self.run_dir, config)
                runs.write_history(self.run_dir, history)

    def _save_last(self, payload: dict) -> None:
        with disk_errors(self.run_dir, payload):
            atomic_save(payload, self.run_dir / runs.LAST)
        self.saved_at = time.monotonic()

    def batch_end(self, payload: Callable[[], dict]) -> None:
        """After a batch: ``last.pt`` with the epoch's position once ``every_s`` seconds have
        passed since the last write (``payload`` is only built then)."""
        if self.within_epochs and time.monotonic() - self.saved_at >= self.every_s:
            self._save_last(payload())

    def stopped(self, payload: dict) -> None:
        """A user's stop inside an epoch: ``last.pt`` keeps the batches done."""
        if self.within_epochs and payload["position"] is not None:
            self._save_last(payload)

    def epoch_end(self, payload: dict, improved: bool) -> None:
        if self.enabled:
            with disk_errors(self.run_dir, payload):
                if improved:
                    atomic_save(payload, self.run_dir / runs.BEST)
                self._save_last(payload)
                runs.write_history(self.run_dir, payload["history"])

    def finish(self, metrics: dict) -> None:
        if self.enabled:
            with disk_errors(self.run_dir):
                runs.write_metrics(self.run_dir, metrics)


def checkpoint_bytes(obj: object) -> int:
    """About the size of ``obj`` saved by ``torch.save``: the bytes of the tensors in it."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(checkpoint_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(checkpoint_bytes(value) for value in obj)
    return 0


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


@contextlib.contextmanager
def disk_errors(run_dir: Path, payload: dict | None = None) -> Iterator[None]:
    """A failed write (disk full, folder gone) ends the run with one clear message naming the
    folder and, for a full disk, the space a checkpoint of ``payload`` needs; the atomic writes
    leave the previous files in place."""
    try:
        yield
    except OSError as error:
        why = error.strerror or str(error)
        if error.errno in (errno.ENOSPC, errno.EDQUOT) and payload is not None:
            free = shutil.disk_usage(run_dir).free
            why += f": a checkpoint needs about {_mb(checkpoint_bytes(payload))} free, "
            why += f"{_mb(free)} are"
        raise LabError(
            f"could not write in {run_dir} ({why}); what was written before is kept. Free "
            "disk space, then resume the run."
        ) from error


def fit(
    prepared: PreparedRun,
    *,
    control: TrainControl | None = None,
    callbacks: tuple[Callback, ...] = (),
    device: torch.device | None = None,
) -> FitResult:
    """Train a run prepared by ``lab.launch.prepare_run`` in its folder, or continue one that
    ``lab.launch.prepare_resume`` read back from its ``last.pt``, with the same history,
    early-stopping state and random streams, inside the epoch where it stopped when ``last.pt``
    was written there."""
    context, device = distributed.setup(device or pick_device())
    if device.type == "cpu":
        keep_freed_memory()  # 1.2-1.3x faster steps on a CPU (see its docstring)
    saved = read_resume_state(prepared.run_dir / runs.LAST) if prepared.resume else None
    state = new_state(prepared, saved, device, context)
    tc = state.config.train
    saver = ModelCheckpoint(state.run_dir, tc.checkpoint_every_s, context)
    with saver.one_writer():
        restore(state, saved, saver)
        if state.outcome is not None and (done := completed_metrics(state)) is not None:
            return FitResult(state.run_dir, state.history, state.outcome, state.reason, done)
        # DDP trains under torchrun; checkpoints use the plain model (no "module." prefix).
        network = distributed.wrap(state.model, context, device, tc.sync_bn)
        emit = _emitter(callbacks, context)
        first_epoch = state.stopper.epoch + 1 if state.outcome is None else tc.epochs + 1
        with interrupted_runs(state, saver):
            for epoch in range(first_epoch, tc.epochs + 1):
                lr = state.optimizer.param_groups[0]["lr"]
                resumed = state.position if epoch == first_epoch else None  # part-way through
                totals = EpochTotals(device, lr, resumed, counted=context.is_main)

                def on_batch(i: int, loss: float, speed: float, e=epoch, t=totals) -> None:
                    emit(BatchEvent(e, i + 1, state.steps, loss, speed))
                    saver.batch_end(lambda: state.payload(t.position(e)))

                stats = train_one_epoch(
                    network,
                    epoch_batches(
                        state.config, state.splits, epoch, device, context, skip=totals.batches
                    ),
                    state.optimizer,
                    device=device,
                    precision=state.precision,
                    scheduler=state.scheduler,
                    label_smoothing=tc.label_smoothing,
                    control=control,
                    on_batch=on_batch,
                    context=context,
                    totals=totals,
                )
                if stats.stopped:  # the batches done are kept; the run goes on when resumed
                    saver.stopped(state.payload(totals.position(epoch)))
                if stats.stopped or stats.diverged:
                    state.outcome, state.reason = cut_short(stats, epoch, state.stopper)
                    break
                state.history.append(epoch_row(state, epoch, stats, totals.lr))
                stop, state.outcome, state.reason = decide(state)
                saver.epoch_end(state.payload(), state.stopper.improved)
                emit(EpochEvent.of(state.history[-1], tc, state.stopper))
                if stop:
                    break
        distributed.barrier(context)  # best.pt is on disk before any rank reads it back
        metrics = run_metrics(state, score_best(state))
        metrics.update(
            wall_s=state.elapsed_s(),
            device=str(device),
            precision=state.precision,
            train_images=len(state.splits.train),
        )
        saver.finish(metrics)
        emit(EndEvent(state.outcome, state.reason, state.run_dir, metrics))
        return FitResult(state.run_dir, state.history, state.outcome, state.reason, metrics)


# --- the named steps of fit ---------------------------------------------------------------------


def new_state(
    prepared: PreparedRun,
    saved: ResumeState | None,
    device: torch.device,
    context: DistContext,
) -> TrainState:
    """A run's state before its first epoch: the model built from the seed (and from the
    training images, ``init_from_data``), its optimizer, schedule and early stopping."""
    # As last.pt holds it (prepared.config has its data source resolved), so the checkpoints
    # written from here go on matching config.json (lab.launch.check_saved_config).
    config = saved.config if saved is not None else prepared.config
    tc, splits = config.train, prepared.splits
    steps = math.ceil(
        usable_batch_size(len(splits.train), tc.batch_size, context.world_size) / tc.batch_size
    )
    torch.manual_seed(tc.seed)
    model = build_model(config.model, num_classes=len(splits.classes))
    init_from_data(model, config, splits)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, tc, device)
    return TrainState(
        config=config,
        splits=splits,
        run_dir=prepared.run_dir,
        device=device,
        precision=resolve_precision(tc.precision, device),
        context=context,
        model=model,
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, tc, steps),
        stopper=EarlyStopping(tc.patience, tc.monitor_mode, tc.min_delta),
        steps=steps,
    )


def restore(state: TrainState, saved: ResumeState | None, saver: ModelCheckpoint) -> None:
    """Fresh for a new run (its config written first); else the saved weights, optimizer,
    schedule, early stopping and random streams, the history, the seconds trained before, where
    inside an epoch it stopped, and the outcome and reason of a run that had already ended."""
    if saved is None:
        saver.start(state.config)
        return
    last = state.run_dir / runs.LAST
    # A stop asked for after an epoch's last batch saves all ``steps`` of them, unscored.
    if saved.position is not None and saved.position.batch > state.steps:
        raise CheckpointError(
            f"cannot resume from {last}: it stopped after batch {saved.position.batch} of an "
            f"epoch that now has {state.steps}: the data has changed"
        )
    saved.restore(state.model, state.optimizer, state.scheduler, state.stopper, last)
    state.history = list(saved.history)
    saver.recover(state.config, state.history)
    state.started = time.perf_counter() - saved.elapsed_s
    state.position = saved.position
    state.outcome, state.reason = saved.outcome, saved.reason or ""


def completed_metrics(state: TrainState) -> dict | None:
    """The ``metrics.json`` of a run that ended and wrote it; None when it is missing, damaged
    or older than the history (a kill came between the two), so the run's end is redone."""
    try:
        metrics = runs.read_metrics(state.run_dir)
    except LabError:
        return None
    return metrics if metrics.get("epochs_run") == len(state.history) else None


def init_from_data(model: nn.Module, config: RunConfig, splits: Splits) -> None:
    """Set the layers that are computed from the training images rather than learned: the
    whitening stem of alexnet_whitened, from an evenly spread sample of the training split
    (the split is in class order), preprocessed as the network will see it."""
    if config.model.name != "alexnet_whitened":
        return
    images = splits.train.images
    sample = images[:: max(1, len(images) // WHITEN_SAMPLE)]
    init_whitening(model, preprocess_batch(sample, config.augment, splits.mean, splits.std))


def _emitter(callbacks: tuple[Callback, ...], context: DistContext) -> Callback:
    """One function that hands an event to every callback (on the main process only)."""

    def emit(event: object) -> None:
        if context.is_main:
            for callback in callbacks:
                callback(event)

    return emit


def score_split(state: TrainState, data: ImageSet) -> tuple[float, float]:
    """Loss and accuracy of the model on one split, without augmentation."""
    distributed.sync_buffers(state.model, state.context)
    return evaluate(
        state.model,
        eval_batches(state.config, state.splits, data, state.device, state.context),
        device=state.device,
        precision=state.precision,
        tta_flip=state.config.train.tta_flip,
        context=state.context,
    )


def epoch_row(state: TrainState, epoch: int, stats: EpochStats, lr: float) -> dict:
    """One line of ``history.csv``: the epoch's training figures and its evaluations."""
    row: dict = {
        "epoch": epoch,
        "train_loss": stats.loss,
        "train_acc": stats.accuracy,
        "val_loss": None,
        "val_acc": None,
        "test_loss": None,
        "test_acc": None,
        "lr": lr,
        "seconds": stats.seconds,
        "images_per_s": stats.images_per_s,
    }
    splits, tc = state.splits, state.config.train
    if splits.val is not None:
        row["val_loss"], row["val_acc"] = score_split(state, splits.val)
    if tc.eval_test or tc.monitor.startswith("test_"):
        row["test_loss"], row["test_acc"] = score_split(state, splits.test)
    return row


def decide(state: TrainState) -> tuple[bool, Outcome | None, str]:
    """Feed the last epoch's monitored value to early stopping: whether to stop, and the
    outcome and reason once the run has ended (None and "" while it goes on)."""
    tc, row = state.config.train, state.history[-1]
    value = row[tc.monitor]
    stop, reason = state.stopper.update(value)
    # The metrics are reduced over all ranks, so each computes the same decision; rank 0's is
    # broadcast all the same, so no rank can ever train an epoch the others skip.
    stop = distributed.broadcast(stop, state.context)
    if stop:
        return True, Outcome.EARLY_STOPPED if math.isfinite(value) else Outcome.DIVERGED, reason
    if row["epoch"] == tc.epochs:
        return False, Outcome.FINISHED, f"completed {tc.epochs}/{tc.epochs} epochs"
    return False, None, ""


def cut_short(stats: EpochStats, epoch: int, stopper: EarlyStopping) -> tuple[Outcome, str]:
    """The outcome of an epoch that did not finish: a user's stop, or a diverged loss."""
    if stats.stopped:
        return Outcome.STOPPED, Outcome.STOPPED.label
    kept = f"; best.pt (epoch {stopper.best_epoch}) is kept" if stopper.best_epoch else ""
    return Outcome.DIVERGED, (
        f"diverged: loss became {stats.loss:.4g} in epoch {epoch}{kept}. "
        "Lower the learning rate and start a new run"
    )


@contextlib.contextmanager
def interrupted_runs(state: TrainState, saver: ModelCheckpoint) -> Iterator[None]:
    """On Ctrl-C, record the run as interrupted (resumable) before the interrupt goes on."""
    try:
        yield
    except KeyboardInterrupt:
        state.outcome, state.reason = Outcome.INTERRUPTED, "interrupted"
        saver.finish(run_metrics(state, None))
        raise


def score_best(state: TrainState) -> tuple[float, float] | None:
    """Test loss and accuracy of the best checkpoint, scored once on the main process; every
    prediction is kept in the run folder (``lab.stored_evaluation``) for the views of the run.
    None when there is no best epoch, or the user stopped the run (a stop should be quick; the
    Checkpoints page and ``cifar-lab eval`` score it later)."""
    best = state.run_dir / runs.BEST
    if not state.stopper.best_epoch or state.outcome is Outcome.STOPPED or not best.exists():
        return None
    test = None
    if state.context.is_main:
        evaluation = evaluate_model(
            load_model(best, device=state.device), state.splits.test, precision=state.precision
        )
        with disk_errors(state.run_dir):
            save_evaluation(state.run_dir, evaluation, best)
        test = (evaluation.loss, evaluation.accuracy)
    return distributed.broadcast(test, state.context)


def run_metrics(state: TrainState, test: tuple[float, float] | None) -> dict:
    """The summary ``metrics.json`` holds: how the run ended, its best epoch and ``test``, the
    test loss and accuracy of its best checkpoint (None when unscored)."""
    stopper, history = state.stopper, state.history
    best_row = history[stopper.best_epoch - 1] if stopper.best_epoch else None
    return {
        "preset": state.config.preset,
        "model": state.config.model.name,
        "monitor": state.config.train.monitor,
        "best_epoch": stopper.best_epoch or None,
        "best_value": stopper.best,
        "best_val_acc": best_row["val_acc"] if best_row else None,
        "test_acc": test[1] if test else None,
        "test_loss": test[0] if test else None,
        "epochs_run": len(history),
        "outcome": state.outcome.value if state.outcome is not None else None,
        "reason": state.reason,
    }
