"""The training engine: batches, one epoch, evaluation, and ``fit`` for a whole run.

The default ``fast`` pipeline keeps the data as uint8 on the training device and augments whole
batches there (``lab.augment.apply_batch``), with channels_last, bf16 autocast where the hardware
has it and foreach Adam. The ``reference`` pipeline is the notebook's: per-image torchvision
transforms on PIL images through a DataLoader, for comparison.

``fit`` writes ``last.pt`` after every epoch and ``best.pt`` on every improvement, atomically, so
a run killed at any moment resumes from its last completed epoch with the same history,
early-stopping state and random streams.
"""

from __future__ import annotations

import contextlib
import errno
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from threading import Event

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from lab import distributed, runs
from lab.augment import ReferenceAugment, apply_batch, preprocess_batch, sample_params
from lab.checkpoint import (
    EpochPosition,
    ResumeState,
    load_model,
    read_resume_state,
    training_payload,
)
from lab.config import AugmentConfig, RunConfig, TrainConfig
from lab.data import ImageSet, Splits, load_dataset, make_splits
from lab.device import autocast, keep_freed_memory, pick_device, resolve_precision
from lab.distributed import DistContext
from lab.early_stopping import EarlyStopping
from lab.errors import CheckpointError, ConfigError, LabError
from lab.evaluate import evaluate_model
from lab.io import atomic_save
from lab.locks import RunLock
from lab.models import build_model, init_whitening, predict_logits
from lab.outcome import Outcome
from lab.stored_evaluation import save_evaluation

# A batch loss this many times that of a uniform guess (ln of the class count) means the weights
# have blown up. Measured on the tiny test set with Adam: a learning rate of 0.03 spikes to 50x
# and recovers, while rates of 1 and 10 reach 10^4x to 10^7x within a few steps.
DIVERGED_LOSS_FACTOR = 1000

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


# Training images the whitening stem of alexnet_whitened is computed from (airbench's 5,000: the
# 12x12 patch covariance is settled long before that).
WHITEN_SAMPLE = 5000

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


# --- batches ------------------------------------------------------------------------------------


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator per (seed, epoch): a resumed run draws exactly what the first one would."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def usable_batch_size(n: int, batch_size: int, world_size: int = 1) -> int:
    """Number of images one epoch uses: a final batch that would leave a process fewer than two
    images is dropped (BatchNorm cannot train on one)."""
    remainder = n % batch_size
    return n - remainder if 0 < remainder < 2 * world_size and n > remainder else n


def fast_batches(
    data: ImageSet,
    augment: AugmentConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    train: bool = True,
    context: DistContext = DistContext(),
    skip: int = 0,
) -> Batches:
    """Batches augmented on ``device``; shuffled and randomly augmented when ``train``.

    Under torchrun every rank draws the same global batch and augmentation parameters and keeps
    its own slice (``context.shard``), so the math matches one process with the same batch.
    ``skip`` leaves out the first batches of the epoch (a resume inside it): their shuffle and
    augmentation are still drawn, so the rest is exactly what the whole epoch would yield."""
    images = data.images.to(device, non_blocking=True)
    labels = data.labels.to(device, non_blocking=True)
    n = len(data)
    if train:
        order = torch.randperm(n, generator=generator).to(device)
        n = usable_batch_size(n, batch_size, context.world_size)
    else:
        order = torch.arange(n, device=device)
    size = tuple(data.images.shape[-2:])
    for number, start in enumerate(range(0, n, batch_size)):
        index = order[start : min(start + batch_size, n)]
        if train:
            params = sample_params(augment, len(index), size, generator)
            if number < skip:
                continue
            params = {key: context.shard(value) for key, value in params.items()}
        index = context.shard(index)
        raw = images.index_select(0, index)
        if train:
            x = apply_batch(raw, augment, params, mean, std)
        else:
            x = preprocess_batch(raw, augment, mean, std)
        yield x.contiguous(memory_format=torch.channels_last), labels.index_select(0, index)


class _PilImages(torch.utils.data.Dataset):
    """ImageSet items as PIL images through a per-image transform, like torchvision datasets."""

    def __init__(self, data: ImageSet, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.images = data.images.permute(0, 2, 3, 1).numpy()
        self.labels = data.labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def reference_batches(
    data: ImageSet,
    augment: AugmentConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    train: bool = True,
    context: DistContext = DistContext(),
    skip: int = 0,
) -> Batches:
    """The notebook's pipeline: per-image PIL transforms in a DataLoader (no workers), with
    the sampler ``shuffle=True`` would make. ``skip`` leaves out the first batches without
    transforming them: their random draws came before the random state a resume restores."""
    if context.enabled:
        raise ConfigError("the reference pipeline runs in one process: use pipeline 'fast'")
    dataset = _PilImages(data, ReferenceAugment(augment, mean, std, train=train))
    order = RandomSampler(dataset, generator=generator) if train else range(len(dataset))
    batches = BatchSampler(order, batch_size, drop_last=train and len(data) % batch_size == 1)
    loader = DataLoader(dataset, batch_sampler=islice(batches, skip, None), generator=generator)
    for x, y in loader:
        yield x.to(device).contiguous(memory_format=torch.channels_last), y.to(device)


BATCHERS = {"fast": fast_batches, "reference": reference_batches}


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


# --- a whole run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    run_dir: Path
    history: list[dict]
    outcome: Outcome
    reason: str
    metrics: dict


def check_batch_size(batch_size: int, train_images: int) -> None:
    """A batch must fit in the training split (checked before a run folder is created)."""
    if batch_size > train_images:
        raise ConfigError(
            f"batch_size {batch_size} is larger than the training split "
            f"({train_images} images): choose 1 to {train_images}",
            "batch_size",
        )


# Nesterov momentum of the "sgd" optimizer, airbench's value for short, high-rate schedules.
SGD_MOMENTUM = 0.85
# Under "sgd", BatchNorm shifts learn this many times faster than the other weights (airbench's
# bias scaler: with BatchNorm scales frozen, the shifts are what moves the activations), with
# their weight decay divided alike, so each step still shrinks them as much as the rest.
BN_LR_SCALE = 64.0


def make_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """Adam (the notebook's) or Nesterov SGD over the trainable weights; fused on CUDA,
    foreach (multi-tensor) elsewhere."""
    fused = device.type == "cuda"
    kernels = {"foreach": not fused, "fused": fused or None}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(
            trainable, lr=config.lr, weight_decay=config.weight_decay, **kernels
        )
    norm = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    }
    groups = [
        {"params": [p for p in trainable if id(p) not in norm]},
        {
            "params": [p for p in trainable if id(p) in norm],
            "lr": config.lr * BN_LR_SCALE,
            "weight_decay": config.weight_decay / BN_LR_SCALE,
        },
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]],
        lr=config.lr,
        momentum=SGD_MOMENTUM,
        nesterov=True,
        weight_decay=config.weight_decay,
        **kernels,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None for "constant"; for "onecycle" a linear warm-up over the first 25% of steps to the
    peak rate, then a linear decay to zero at the last step."""
    if config.schedule == "constant":
        return None
    total = config.epochs * steps_per_epoch
    warmup = max(1, round(0.25 * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
    config: RunConfig,
    run_dir: Path,
    *,
    splits: Splits | None = None,
    resume: bool = False,
    control: TrainControl | None = None,
    callbacks: tuple[Callback, ...] = (),
    device: torch.device | None = None,
) -> FitResult:
    """Train a run in ``run_dir`` (made by ``lab.launch.prepare_run``), or resume it from its
    ``last.pt`` with the same history, early-stopping state and random streams, inside the
    epoch where it stopped when ``last.pt`` was written there."""
    context, device = distributed.setup(device or pick_device())
    if device.type == "cpu":
        keep_freed_memory()  # 1.2-1.3x faster steps on a CPU (see its docstring)
    saved = read_resume_state(run_dir / runs.LAST) if resume else None
    config = saved.config if saved is not None else config
    tc = config.train
    if splits is None:
        splits = make_splits(load_dataset(config.data.source), config.data)
    check_batch_size(tc.batch_size, len(splits.train))
    precision = resolve_precision(tc.precision, device)
    steps = math.ceil(
        usable_batch_size(len(splits.train), tc.batch_size, context.world_size) / tc.batch_size
    )

    torch.manual_seed(tc.seed)
    model = build_model(config.model, num_classes=len(splits.classes))
    init_from_data(model, config, splits)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, tc, device)
    scheduler = make_scheduler(optimizer, tc, steps)
    stopper = EarlyStopping(tc.patience, tc.monitor_mode, tc.min_delta)
    saver = ModelCheckpoint(run_dir, tc.checkpoint_every_s, context)
    with saver.one_writer():
        history, elapsed_before, outcome, reason = restore(
            saved, run_dir, model, optimizer, scheduler, stopper, saver, config, steps
        )
        if outcome is not None and (done := completed_metrics(run_dir, history)) is not None:
            return FitResult(run_dir, history, outcome, reason, done)
        # DDP trains under torchrun; checkpoints use the plain model (no "module." prefix).
        network = distributed.wrap(model, context, device, tc.sync_bn)
        emit = _emitter(callbacks, context)
        run_start = time.perf_counter() - elapsed_before

        def score(data: ImageSet) -> tuple[float, float]:
            return score_split(model, data, config, splits, device, precision, context)

        def checkpoint(ended: Outcome | None = None, why: str = "", position=None) -> dict:
            elapsed = time.perf_counter() - run_start
            return training_payload(
                config, splits, model, optimizer, scheduler, stopper, history, elapsed, ended, why,
                position,
            )  # fmt: skip

        position = saved.position if saved is not None else None
        first_epoch = stopper.epoch + 1 if outcome is None else tc.epochs + 1
        with interrupted_runs(saver, config, history, stopper):
            for epoch in range(first_epoch, tc.epochs + 1):
                lr = optimizer.param_groups[0]["lr"]
                resumed = position if epoch == first_epoch else None  # part-way through
                totals = EpochTotals(device, lr, resumed, counted=context.is_main)

                def on_batch(i: int, loss: float, speed: float, e=epoch, t=totals) -> None:
                    emit(BatchEvent(e, i + 1, steps, loss, speed))
                    saver.batch_end(lambda: checkpoint(position=t.position(e)))

                stats = train_one_epoch(
                    network,
                    epoch_batches(config, splits, epoch, device, context, skip=totals.batches),
                    optimizer,
                    device=device,
                    precision=precision,
                    scheduler=scheduler,
                    label_smoothing=tc.label_smoothing,
                    control=control,
                    on_batch=on_batch,
                    context=context,
                    totals=totals,
                )
                if stats.stopped or stats.diverged:
                    outcome, reason = cut_short(stats, epoch, stopper)
                    if stats.stopped:  # the batches done are kept
                        saver.stopped(checkpoint(position=totals.position(epoch)))
                    break
                history.append(epoch_row(epoch, stats, totals.lr, splits, score, tc))
                stop, outcome, reason = decide(stopper, history[-1], tc, context)
                saver.epoch_end(checkpoint(outcome, reason), stopper.improved)
                emit(EpochEvent.of(history[-1], tc, stopper))
                if stop:
                    break
        distributed.barrier(context)  # best.pt is on disk before any rank reads it back
        test = score_best(run_dir, splits, stopper, outcome, device, precision, context)
        metrics = run_metrics(config, history, stopper, outcome, reason, test)
        metrics.update(
            wall_s=time.perf_counter() - run_start,
            device=str(device),
            precision=precision,
            train_images=len(splits.train),
        )
        saver.finish(metrics)
        emit(EndEvent(outcome, reason, run_dir, metrics))
        return FitResult(run_dir, history, outcome, reason, metrics)


# --- the named steps of fit ---------------------------------------------------------------------


def restore(
    saved: ResumeState | None,
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    stopper: EarlyStopping,
    saver: ModelCheckpoint,
    config: RunConfig,
    steps: int,
) -> tuple[list[dict], float, Outcome | None, str]:
    """Set up the run's state: fresh for a new run (its config written first), else the saved
    weights, optimizer, schedule, early stopping and random streams. Returns the history, the
    seconds trained before, and the outcome and reason of a run that had already ended."""
    if saved is None:
        saver.start(config)
        return [], 0.0, None, ""
    # A stop asked for after an epoch's last batch saves all ``steps`` of them, unscored.
    if saved.position is not None and saved.position.batch > steps:
        raise CheckpointError(
            f"cannot resume from {run_dir / runs.LAST}: it stopped after batch "
            f"{saved.position.batch} of an epoch that now has {steps}: the data has changed"
        )
    saved.restore(model, optimizer, scheduler, stopper, run_dir / runs.LAST)
    history = list(saved.history)
    saver.recover(config, history)
    return history, saved.elapsed_s, saved.outcome, saved.reason or ""


def completed_metrics(run_dir: Path, history: list[dict]) -> dict | None:
    """The ``metrics.json`` of a run that ended and wrote it; None when it is missing, damaged
    or older than the history (a kill came between the two), so the run's end is redone."""
    try:
        metrics = runs.read_metrics(run_dir)
    except LabError:
        return None
    return metrics if metrics.get("epochs_run") == len(history) else None


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


def score_split(
    model: nn.Module,
    data: ImageSet,
    config: RunConfig,
    splits: Splits,
    device: torch.device,
    precision: str,
    context: DistContext,
) -> tuple[float, float]:
    """Loss and accuracy of ``model`` on one split, without augmentation."""
    distributed.sync_buffers(model, context)
    batches = BATCHERS[config.train.pipeline](
        data,
        config.augment,
        splits.mean,
        splits.std,
        config.train.eval_batch_size,
        device,
        train=False,
        context=context,
    )
    return evaluate(
        model,
        batches,
        device=device,
        precision=precision,
        tta_flip=config.train.tta_flip,
        context=context,
    )


def epoch_batches(
    config: RunConfig,
    splits: Splits,
    epoch: int,
    device: torch.device,
    context: DistContext,
    skip: int = 0,
) -> Batches:
    """The training batches of one epoch, drawn from the epoch's own generator, at the epoch's
    image size (``epoch_image_size``); ``skip`` leaves out the first ones (those a resumed epoch
    had done)."""
    batches = BATCHERS[config.train.pipeline](
        splits.train,
        config.augment,
        splits.mean,
        splits.std,
        config.train.batch_size,
        device,
        epoch_generator(config.train.seed, epoch),
        context=context,
        skip=skip,
    )
    for x, y in batches:
        height, width = x.shape[-2:]
        side = epoch_image_size(config.train, epoch, height)
        if side != height:
            x = F.interpolate(
                x, size=(side, round(width * side / height)), mode="bilinear", antialias=True
            ).contiguous(memory_format=torch.channels_last)
        yield x, y


def epoch_image_size(config: TrainConfig, epoch: int, full: int) -> int:
    """Side of the training images in ``epoch`` when the full side is ``full``: under
    progressive resizing ``progressive_from`` in the first epoch, growing evenly to ``full``
    in the last (fast.ai's DAWNBench trick: the early epochs learn coarse features as well from
    small images, at a fraction of the cost); ``full`` throughout otherwise."""
    start = config.progressive_from
    if not start or start >= full or config.epochs == 1:
        return full
    return round(start + (full - start) * (epoch - 1) / (config.epochs - 1))


def epoch_row(
    epoch: int,
    stats: EpochStats,
    lr: float,
    splits: Splits,
    score: Callable[[ImageSet], tuple[float, float]],
    config: TrainConfig,
) -> dict:
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
    if splits.val is not None:
        row["val_loss"], row["val_acc"] = score(splits.val)
    if config.eval_test or config.monitor.startswith("test_"):
        row["test_loss"], row["test_acc"] = score(splits.test)
    return row


def decide(
    stopper: EarlyStopping, row: dict, config: TrainConfig, context: DistContext
) -> tuple[bool, Outcome | None, str]:
    """Feed the epoch's monitored value to early stopping: whether to stop, and the outcome
    and reason once the run has ended (None and "" while it goes on)."""
    value = row[config.monitor]
    stop, reason = stopper.update(value)
    # The metrics are reduced over all ranks, so each computes the same decision; rank 0's is
    # broadcast all the same, so no rank can ever train an epoch the others skip.
    stop = distributed.broadcast(stop, context)
    if stop:
        return True, Outcome.EARLY_STOPPED if math.isfinite(value) else Outcome.DIVERGED, reason
    if row["epoch"] == config.epochs:
        return False, Outcome.FINISHED, f"completed {config.epochs}/{config.epochs} epochs"
    return False, None, ""


def cut_short(stats: EpochStats, epoch: int, stopper: EarlyStopping) -> tuple[Outcome, str]:
    """The outcome of an epoch that did not finish: a user's stop, or a diverged loss."""
    if stats.stopped:
        return Outcome.STOPPED, "stopped by the user"
    kept = f"; best.pt (epoch {stopper.best_epoch}) is kept" if stopper.best_epoch else ""
    return Outcome.DIVERGED, (
        f"diverged: loss became {stats.loss:.4g} in epoch {epoch}{kept}. "
        "Lower the learning rate and start a new run"
    )


@contextlib.contextmanager
def interrupted_runs(
    saver: ModelCheckpoint, config: RunConfig, history: list[dict], stopper: EarlyStopping
) -> Iterator[None]:
    """On Ctrl-C, record the run as interrupted (resumable) before the interrupt goes on."""
    try:
        yield
    except KeyboardInterrupt:
        saver.finish(
            run_metrics(config, history, stopper, Outcome.INTERRUPTED, "interrupted", None)
        )
        raise


def score_best(
    run_dir: Path,
    splits: Splits,
    stopper: EarlyStopping,
    outcome: Outcome | None,
    device: torch.device,
    precision: str,
    context: DistContext,
) -> tuple[float, float] | None:
    """Test loss and accuracy of the best checkpoint, scored once on the main process; every
    prediction is kept in the run folder (``lab.stored_evaluation``) for the views of the run.
    None when there is no best epoch, or the user stopped the run (a stop should be quick; the
    Checkpoints page and ``cifar-lab eval`` score it later)."""
    best = run_dir / runs.BEST
    if not stopper.best_epoch or outcome is Outcome.STOPPED or not best.exists():
        return None
    test = None
    if context.is_main:
        evaluation = evaluate_model(
            load_model(best, device=device), splits.test, precision=precision
        )
        with disk_errors(run_dir):
            save_evaluation(run_dir, evaluation, best)
        test = (evaluation.loss, evaluation.accuracy)
    return distributed.broadcast(test, context)


def run_metrics(
    config: RunConfig,
    history: list[dict],
    stopper: EarlyStopping,
    outcome: Outcome | None,
    reason: str,
    test: tuple[float, float] | None,
) -> dict:
    """The summary ``metrics.json`` holds."""
    best_row = history[stopper.best_epoch - 1] if stopper.best_epoch else None
    return {
        "preset": config.preset,
        "model": config.model.name,
        "monitor": config.train.monitor,
        "best_epoch": stopper.best_epoch or None,
        "best_value": stopper.best,
        "best_val_acc": best_row["val_acc"] if best_row else None,
        "test_acc": test[1] if test else None,
        "test_loss": test[0] if test else None,
        "epochs_run": len(history),
        "outcome": outcome.value if outcome is not None else None,
        "reason": reason,
    }
