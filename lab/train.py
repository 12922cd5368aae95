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
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from lab import distributed
from lab.augment import (
    AugmentConfig,
    ReferenceAugment,
    apply_batch,
    preprocess_batch,
    sample_params,
)
from lab.data import MAX_SEED
from lab.device import autocast, pick_device, resolve_precision
from lab.distributed import DistContext
from lab.early_stopping import EarlyStopping
from lab.errors import CheckpointError, ConfigError, LabError, check_field_types

if TYPE_CHECKING:
    from lab.data import ImageSet, Splits
    from lab.presets import RunConfig

MONITORS = ("val_acc", "val_loss", "test_acc", "test_loss")
SCHEDULES = ("constant", "onecycle")
PIPELINES = ("fast", "reference")
STOPPED_BY_USER = "stopped by user"
# A batch loss this many times that of a uniform guess (ln of the class count) means the weights
# have blown up. Measured on the tiny test set with Adam: a learning rate of 0.03 spikes to 50x
# and recovers, while rates of 1 and 10 reach 10^4x to 10^7x within a few steps.
DIVERGED_LOSS_FACTOR = 1000

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, stopping and engine settings."""

    # Passes over the training split (the notebook's 30).
    epochs: int = 30
    # Images per optimiser step (the notebook's 64).
    batch_size: int = 64
    # Adam's learning rate (the notebook's 1e-3); the peak rate under "onecycle".
    lr: float = 1e-3
    # Adam's L2 weight decay (0 in the notebook).
    weight_decay: float = 0.0
    # "constant" (the notebook) or "onecycle" (linear warm-up for 25% of steps, then decay to 0).
    schedule: str = "constant"
    # Cross-entropy label smoothing, 0 to 0.5 (0 in the notebook).
    label_smoothing: float = 0.0
    # Epochs without improvement tolerated; training stops when the count exceeds it.
    patience: int = 5
    # Smallest change of the monitored value that counts as an improvement.
    min_delta: float = 0.0
    # What early stopping and "best" watch: val_acc/val_loss, or test_* as the notebook did.
    monitor: str = "val_acc"
    # Also evaluate the test split after every epoch (always on when monitoring test_*).
    eval_test: bool = False
    # Average the predictions of each image and its mirror image when evaluating.
    tta_flip: bool = False
    # "auto" (bf16 where the hardware runs it fast, else fp32), "fp32" or "bf16".
    precision: str = "auto"
    # "fast" (batched on-device augmentation) or "reference" (per-image PIL + DataLoader).
    pipeline: str = "fast"
    # Images per evaluation batch (the notebook's 1000); only memory depends on it.
    eval_batch_size: int = 1000
    # Seed of the weights, batch order, augmentation and dropout.
    seed: int = 0
    # Under torchrun: BatchNorm statistics over the global batch instead of each rank's slice.
    sync_bn: bool = False

    def __post_init__(self) -> None:
        check_field_types(self)
        if not 1 <= self.epochs <= 1000:
            raise ConfigError(f"epochs must be between 1 and 1000, got {self.epochs}")
        if not 1 <= self.batch_size <= 65536:
            raise ConfigError(f"batch_size must be between 1 and 65536, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)) or self.lr > 10:
            raise ConfigError(f"lr must be > 0 and at most 10, got {self.lr}")
        if not 0 <= self.weight_decay <= 1:
            raise ConfigError(f"weight_decay must be between 0 and 1, got {self.weight_decay}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule '{self.schedule}': choose one of {SCHEDULES}")
        if not 0 <= self.label_smoothing <= 0.5:
            raise ConfigError(f"label_smoothing must be in [0, 0.5], got {self.label_smoothing}")
        if self.patience < 0:
            raise ConfigError(f"patience must be >= 0, got {self.patience}")
        if not 0 <= self.min_delta < math.inf:
            raise ConfigError(f"min_delta must be a finite number >= 0, got {self.min_delta}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"unknown monitor '{self.monitor}': choose one of {MONITORS}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"unknown precision '{self.precision}': choose auto, fp32 or bf16")
        if self.pipeline not in PIPELINES:
            raise ConfigError(f"unknown pipeline '{self.pipeline}': choose one of {PIPELINES}")
        if not 1 <= self.eval_batch_size <= 65536:
            raise ConfigError(
                f"eval_batch_size must be between 1 and 65536, got {self.eval_batch_size}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, got {self.seed}")

    @property
    def monitor_mode(self) -> str:
        return "max" if self.monitor.endswith("_acc") else "min"


# --- control and events -------------------------------------------------------------------------


class TrainControl:
    """Stop and pause requests from another thread, honoured between batches."""

    def __init__(self) -> None:
        self._stop = Event()
        self._running = Event()
        self._running.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> bool:
        """Block while paused; True when the run should stop now."""
        while not self._running.wait(timeout=0.2):
            pass
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


@dataclass(frozen=True)
class EndEvent:
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
) -> Batches:
    """Batches augmented on ``device``; shuffled and randomly augmented when ``train``.

    Under torchrun every rank draws the same global batch and augmentation parameters and keeps
    its own slice (``context.shard``), so the math matches one process with the same batch."""
    images = data.images.to(device, non_blocking=True)
    labels = data.labels.to(device, non_blocking=True)
    n = len(data)
    if train:
        order = torch.randperm(n, generator=generator).to(device)
        n = usable_batch_size(n, batch_size, context.world_size)
    else:
        order = torch.arange(n, device=device)
    size = tuple(data.images.shape[-2:])
    for start in range(0, n, batch_size):
        index = order[start : min(start + batch_size, n)]
        if train:
            params = sample_params(augment, len(index), size, generator)
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
) -> Batches:
    """The notebook's pipeline: per-image PIL transforms in a DataLoader (no workers)."""
    if context.enabled:
        raise ConfigError("the reference pipeline runs in one process: use pipeline 'fast'")
    dataset = _PilImages(data, ReferenceAugment(augment, mean, std, train=train))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        generator=generator,
        drop_last=train and len(data) % batch_size == 1,
    )
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
) -> EpochStats:
    """One pass over ``batches``. Stops early (``stopped``) on request, or on a non-finite or
    exploded loss (``diverged``, see ``DIVERGED_LOSS_FACTOR``) before that step touches the
    weights."""
    model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    for batch_index, (x, y) in enumerate(batches):
        if control is not None and control.checkpoint():
            return EpochStats(
                _mean(loss_sum, seen), _mean(correct, seen), seen, _since(start), True
            )
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
            return EpochStats(loss_value, _mean(correct, seen), seen, _since(start), diverged=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(dim=1) == y).sum()
        seen += len(y)
        if on_batch is not None:
            on_batch(batch_index, loss_value, context.world_size * seen / max(_since(start), 1e-9))
    if context.enabled:
        totals = distributed.sum_across([loss_sum.item(), correct.item(), seen], context, device)
        loss_sum, correct, seen = torch.tensor(totals[0]), torch.tensor(totals[1]), int(totals[2])
    return EpochStats(_mean(loss_sum, seen), _mean(correct, seen), seen, _since(start))


def _mean(total: torch.Tensor, count: int) -> float:
    return float(total.item()) / count if count else float("nan")


def _since(start: float) -> float:
    return time.perf_counter() - start


def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    *,
    device: torch.device,
    precision: str = "fp32",
    tta_flip: bool = False,
) -> torch.Tensor:
    """float32 logits of a preprocessed batch; with ``tta_flip`` averaged with the mirror image."""
    with autocast(device, precision):
        logits = model(x).float()
        if tta_flip:
            logits = (logits + model(x.flip(3)).float()) / 2
    return logits


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
    reason: str
    metrics: dict


def check_batch_size(batch_size: int, train_images: int) -> None:
    """A batch must fit in the training split (checked before a run folder is created)."""
    if batch_size > train_images:
        raise ConfigError(
            f"batch_size {batch_size} is larger than the training split "
            f"({train_images} images): choose 1 to {train_images}"
        )


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    # fused Adam on CUDA; foreach (multi-tensor) Adam elsewhere.
    fused = device.type == "cuda"
    return torch.optim.Adam(
        model.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        foreach=not fused,
        fused=fused or None,
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
    """Train a run in ``run_dir`` (created by ``lab.runs``), or resume it from ``last.pt``."""
    from lab import runs
    from lab.checkpoint import (
        CHECKPOINT_KIND,
        FORMAT_VERSION,
        atomic_save,
        checkpoint_config,
        load_state_dict_strict,
        read_checkpoint,
    )
    from lab.data import load_dataset, make_splits
    from lab.models import build_model

    context, device = distributed.setup(device or pick_device())
    precision = resolve_precision(config.train.precision, device)
    tc = config.train
    state = read_checkpoint(run_dir / runs.LAST) if resume else None
    if state is not None:
        config = checkpoint_config(state, run_dir / runs.LAST)
        tc = config.train
    if splits is None:
        splits = make_splits(load_dataset(config.data.source), config.data)
    check_batch_size(tc.batch_size, len(splits.train))
    monitor_split = tc.monitor.split("_")[0]
    eval_test = tc.eval_test or monitor_split == "test"
    batcher = BATCHERS[tc.pipeline]

    torch.manual_seed(tc.seed)
    model = build_model(config.model, num_classes=len(splits.classes))
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, tc, device)
    usable = usable_batch_size(len(splits.train), tc.batch_size, context.world_size)
    steps_per_epoch = math.ceil(usable / tc.batch_size)
    scheduler = make_scheduler(optimizer, tc, steps_per_epoch)
    stopper = EarlyStopping(tc.patience, tc.monitor_mode, tc.min_delta)
    history: list[dict] = []
    elapsed_before = 0.0
    if state is not None:
        try:
            load_state_dict_strict(model, state["model"], str(run_dir / runs.LAST))
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            stopper.load_state_dict(state["early_stopping"])
            history = list(state["history"])
            elapsed_before = float(state.get("elapsed_s", 0.0))
            torch.set_rng_state(state["rng"]["torch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"cannot resume from {run_dir / runs.LAST}: a damaged or incompatible "
                f"checkpoint ({type(error).__name__}: {error})"
            ) from error
        # A kill can land after last.pt is written and before history.csv and metrics.json,
        # or in the middle of a write, leaving the temp file of an atomic write behind.
        if context.is_main:
            for stale in run_dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
            with _disk_errors(run_dir):
                runs.write_history(run_dir, history)
        metrics = runs.read_metrics(run_dir)
        if state.get("finished") and metrics.get("epochs_run") == len(history):
            return FitResult(run_dir, history, state.get("reason") or "finished", metrics)
    elif context.is_main:
        with _disk_errors(run_dir):
            runs.write_config(run_dir, config)
    # Under torchrun: DDP around the model for training; checkpoints and evaluation use the
    # plain model inside, so saved weights carry no "module." prefix.
    network = distributed.wrap(model, context, device, tc.sync_bn)

    def emit(event: object) -> None:
        if context.is_main:
            for callback in callbacks:
                callback(event)

    def eval_split(data: ImageSet) -> tuple[float, float]:
        distributed.sync_buffers(model, context)
        batches = batcher(
            data,
            config.augment,
            splits.mean,
            splits.std,
            tc.eval_batch_size,
            device,
            train=False,
            context=context,
        )
        return evaluate(
            model,
            batches,
            device=device,
            precision=precision,
            tta_flip=tc.tta_flip,
            context=context,
        )

    run_start = time.perf_counter() - elapsed_before
    reason = f"completed {tc.epochs}/{tc.epochs} epochs"
    finished = True
    first_epoch = stopper.epoch + 1
    if state is not None and state.get("finished"):
        # The run had ended but its metrics.json was not written: only write it now.
        reason, first_epoch = state.get("reason") or reason, tc.epochs + 1
    for epoch in range(first_epoch, tc.epochs + 1):
        generator = epoch_generator(tc.seed, epoch)
        batches = batcher(
            splits.train,
            config.augment,
            splits.mean,
            splits.std,
            tc.batch_size,
            device,
            generator,
            context=context,
        )

        def on_batch(i: int, loss: float, ips: float, epoch: int = epoch) -> None:
            emit(BatchEvent(epoch, i + 1, steps_per_epoch, loss, ips))

        lr = optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(
            network,
            batches,
            optimizer,
            device=device,
            precision=precision,
            scheduler=scheduler,
            label_smoothing=tc.label_smoothing,
            control=control,
            on_batch=on_batch,
            context=context,
        )
        if stats.stopped:
            reason, finished = STOPPED_BY_USER, False
            break
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
        if stats.diverged:
            kept = f"; best.pt (epoch {stopper.best_epoch}) is kept" if stopper.best_epoch else ""
            reason = (
                f"diverged: loss became {stats.loss:.4g} in epoch {epoch}{kept}. "
                "Lower the learning rate and start a new run"
            )
            break
        if splits.val is not None:
            row["val_loss"], row["val_acc"] = eval_split(splits.val)
        if eval_test:
            row["test_loss"], row["test_acc"] = eval_split(splits.test)
        history.append(row)
        stop, stop_reason = stopper.update(row[tc.monitor])
        # The metrics are reduced over all ranks, so each computes the same decision; rank 0's
        # is broadcast all the same, so no rank can ever train an epoch the others skip.
        stop = distributed.broadcast(stop, context)
        elapsed = time.perf_counter() - run_start
        done = stop or epoch == tc.epochs
        if done:
            reason = stop_reason or reason
        payload = {
            "format_version": FORMAT_VERSION,
            "kind": CHECKPOINT_KIND,
            "config": config.to_dict(),
            "classes": list(splits.classes),
            "mean": list(splits.mean),
            "std": list(splits.std),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "early_stopping": stopper.state_dict(),
            "history": history,
            "epoch": epoch,
            "elapsed_s": elapsed,
            "finished": done,
            "reason": reason if done else None,
            "rng": {"torch": torch.get_rng_state()},
        }
        if context.is_main:
            with _disk_errors(run_dir):
                if stopper.improved:
                    atomic_save(payload, run_dir / runs.BEST)
                atomic_save(payload, run_dir / runs.LAST)
                runs.write_history(run_dir, history)
        emit(
            EpochEvent(
                epoch,
                tc.epochs,
                row,
                stopper.improved,
                stopper.best_epoch,
                stopper.best,
                stopper.counter,
                tc.patience,
            )
        )
        if stop:
            break
    distributed.barrier(context)  # best.pt is on disk before any rank reads it back
    metrics = _final_metrics(
        config,
        history,
        stopper,
        reason,
        finished,
        model,
        run_dir / runs.BEST,
        lambda: eval_split(splits.test),
    )
    metrics.update(
        wall_s=time.perf_counter() - run_start,
        device=str(device),
        precision=precision,
        train_images=len(splits.train),
    )
    if context.is_main:
        with _disk_errors(run_dir):
            runs.write_metrics(run_dir, metrics)
    emit(EndEvent(reason, run_dir, metrics))
    return FitResult(run_dir, history, reason, metrics)


@contextlib.contextmanager
def _disk_errors(run_dir: Path) -> Iterator[None]:
    """A failed write (disk full, folder gone) ends the run with one clear message; the atomic
    writes leave the previous files in place."""
    try:
        yield
    except OSError as error:
        raise LabError(
            f"could not write in {run_dir} ({error.strerror or error}); the previous checkpoint "
            "is kept. Free disk space, then resume the run."
        ) from error


def _final_metrics(
    config: RunConfig,
    history: list[dict],
    stopper: EarlyStopping,
    reason: str,
    finished: bool,
    model: nn.Module,
    best_path: Path,
    score_test: Callable[[], tuple[float, float]],
) -> dict:
    """Summary of a run. The best checkpoint is scored on the test split, unless the history
    already holds that epoch's test metrics (as when monitoring the test set) or the user
    stopped the run (a stop should be quick; ``cifar-lab eval`` scores it later)."""
    from lab.checkpoint import read_checkpoint

    best_row = history[stopper.best_epoch - 1] if stopper.best_epoch else None
    test_loss = best_row["test_loss"] if best_row else None
    test_acc = best_row["test_acc"] if best_row else None
    if best_row and test_acc is None and reason != STOPPED_BY_USER and best_path.exists():
        model.load_state_dict(read_checkpoint(best_path)["model"])
        test_loss, test_acc = score_test()
    return {
        "preset": config.preset,
        "model": config.model.name,
        "monitor": config.train.monitor,
        "best_epoch": stopper.best_epoch or None,
        "best_value": stopper.best,
        "best_val_acc": best_row["val_acc"] if best_row else None,
        "test_acc": test_acc,
        "test_loss": test_loss,
        "epochs_run": len(history),
        "reason": reason,
        "finished": finished,
    }
