"""Versioned checkpoints, written atomically and loaded safely.

Every checkpoint stores the full run config, class names, normalisation statistics and a format
version beside the weights, so the model is always rebuilt from the checkpoint itself. Loading
uses ``torch.load(weights_only=True)``: a file whose unpickling would run code is refused.
A notebook's bare ``alex_net.pth`` state_dict loads as the ``alexnet`` model.

Memory stays bounded by the file's own size: before ``torch.load`` the zip's members must not
unpack to more than the file holds (a 2 MB file deflating to 2 GiB is refused unread), and
before a model is built its class count is checked against ``MAX_CLASSES`` and its weights'
names and shapes against the architecture built on the meta device, which allocates nothing.
Width and input size are bounded by the config's own ranges. Non-finite weights are refused.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.config import RunConfig, validate
from lab.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, Splits
from lab.early_stopping import EarlyStopping
from lab.errors import CheckpointError, ConfigError, LabError, NewerFormatError
from lab.models import build_model
from lab.outcome import Outcome
from lab.presets import notebook_config
from lab.runs import EpochRow

# 2: the end of a run is a typed ``outcome`` (version 1 stored a ``finished`` flag).
# 3: last.pt is also written inside an epoch (its ``position``) and holds the CUDA RNG streams.
FORMAT_VERSION = 3
CHECKPOINT_KIND = "cifar-lab-checkpoint"
# The most classes a checkpoint may claim: ImageNet's 1000. The largest real model, alexnet_cifar
# at width 4 (the width setting's top) with 1000 classes, has 107 million parameters: 430 MB of
# weights, 1.3 GB as a last.pt with Adam's two moments, under the cap on a checkpoint file.
MAX_CLASSES = 1000
MAX_CHECKPOINT_BYTES = 2 * 1024**3


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size < 1e8 else f"{size / 1e6:.0f} MB"


def _check_archive(path: Path, size: int) -> None:
    """Refuse a file larger than the cap, or a zip whose members unpack to more than the file
    holds (torch.save stores them uncompressed, so a lab checkpoint never does)."""
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"refused {path}: {_mb(size)} is larger than the {MAX_CHECKPOINT_BYTES >> 20} MB a "
            "checkpoint of the largest model takes"
        )
    if not zipfile.is_zipfile(path):
        return  # torch's legacy format, or not a checkpoint: torch.load tells
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: a damaged zip ({error})") from error
    if unpacked > size:
        raise CheckpointError(
            f"refused {path}: it unpacks to {_mb(unpacked)} from a file of {_mb(size)} (a "
            "compression bomb: checkpoints are stored uncompressed)"
        )


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint file as plain data, refusing anything that would execute code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    _check_archive(path, size)
    damaged: Exception | None = None
    try:
        # torch warns about odd pickle protocols; the CLI and the app report one clear line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # The safe loader refuses code (a GLOBAL reference ...), and as an "Unsupported operand"
        # bytes that are no pickle at all: a text file, an image, zeros.
        if "Unsupported operand" not in str(error):
            raise CheckpointError(
                f"refused to load {path}: it contains {_refused_object(error)}, not only "
                "tensors and plain data, so loading it could run code. Load only checkpoints "
                "you trust."
            ) from error
        damaged = error
    except Exception as error:  # a damaged file fails deep inside torch in many ways
        damaged = error
    if damaged is not None:
        # Which way it failed is torch's detail (an IndexError, a KeyError ...): the cause.
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is truncated or not a PyTorch file"
        ) from damaged
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a checkpoint")
    return payload


def _refused_object(error: Exception) -> str:
    """What the safe unpickler refused, e.g. "a reference to posix.system", leaving out torch's
    advice to retry with ``weights_only=False`` (which would run the code)."""
    found = re.search(r"GLOBAL (\S+)", str(error))
    return f"a reference to {found.group(1)}" if found else "objects the safe loader refuses"


def is_bare_state_dict(payload: dict) -> bool:
    """True for a notebook-style ``model.state_dict()`` saved on its own."""
    return (
        bool(payload)
        and "format_version" not in payload
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items())
    )


def check_state_dict(expected: dict, state: object, source: str) -> dict:
    """``state`` as weights for a model whose ``state_dict()`` is ``expected`` (on any device,
    the meta device included): refused with one readable line unless the names and shapes
    match and every weight is finite. Returns it without any ``module.`` prefix."""
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{source} holds no model weights (a name -> tensor mapping)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{source} does not match the model architecture: "
            f"{len(missing)} missing keys {missing[:3]}, {len(extra)} unexpected keys {extra[:3]}"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{source} does not match the model architecture: {key} has shape "
                f"{tuple(tensor.shape)}, the model expects {tuple(expected[key].shape)}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{source} holds non-finite weights (NaN or infinity) in {key}: a run that "
                "diverged, or a damaged file; use another checkpoint"
            )
    return state


def load_state_dict_strict(model: nn.Module, state: object, source: str) -> None:
    """Load weights strictly, after ``check_state_dict``."""
    model.load_state_dict(check_state_dict(model.state_dict(), state, source), strict=True)


@dataclass(frozen=True)
class LoadedModel:
    """A model rebuilt from a checkpoint, ready for inference, with what it needs to preprocess."""

    model: nn.Module
    config: RunConfig
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    payload: dict
    path: Path

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def precision(self) -> str:
        """The precision the run trained in ("auto" resolves the same way on one host), which
        every evaluation and prediction of it uses unless asked for another: bf16 and fp32
        differ in the third decimal of a probability, so one checkpoint gives one set of
        numbers everywhere on a host."""
        return self.config.train.precision


def check_classes(loaded: LoadedModel, classes: Sequence[str]) -> None:
    """Refuse data whose classes are not the checkpoint's, in the same order: the network's
    outputs are the checkpoint's classes by position, so any other data gives wrong scores."""
    if tuple(classes) != tuple(loaded.classes):
        raise LabError(
            f"the data's classes {list(classes)} differ from the checkpoint's "
            f"{list(loaded.classes)} ({loaded.path}): use the data it was trained on"
        )


def checkpoint_config(payload: dict, path: str | os.PathLike) -> RunConfig:
    """The ``RunConfig`` stored in a CIFAR Lab checkpoint, after checking its kind and version."""
    version = payload.get("format_version")
    if payload.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path} is not a CIFAR Lab checkpoint or model state_dict")
    if type(version) is not int or version < 1:  # bools are ints to Python, not versions
        raise CheckpointError(
            f"{path} has format version {version!r}, which no lab wrote: versions are whole "
            f"numbers from 1 to {FORMAT_VERSION}"
        )
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{path} has format version {version}, newer than this lab's "
            f"{FORMAT_VERSION}: upgrade cifar-lab to load it"
        )
    try:
        return RunConfig.from_dict(payload.get("config"))
    except ConfigError as error:
        raise CheckpointError(f"{path} has an invalid config: {error}") from error


def _channel_values(values: Any, name: str, path: Path) -> tuple[float, float, float]:
    if not (
        isinstance(values, (list, tuple))
        and len(values) == 3
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    ):
        raise CheckpointError(f"{path} has no valid {name} (three finite numbers, one per channel)")
    return tuple(float(v) for v in values)


def load_model(
    path: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> LoadedModel:
    """Rebuild the model a checkpoint describes and load its weights strictly.

    ``stats`` (mean, std) is used only for a bare notebook state_dict, which carries none; the
    official CIFAR-10 statistics are used when it is not given.
    """
    path = Path(path)
    payload = read_checkpoint(path)
    if is_bare_state_dict(payload):
        config = notebook_config()
        classes = CIFAR10_CLASSES
        mean, std = stats if stats is not None else (CIFAR10_MEAN, CIFAR10_STD)
        state = payload
    else:
        config = checkpoint_config(payload, path)
        classes = payload.get("classes")
        if not (
            isinstance(classes, (list, tuple))
            and len(classes) >= 2
            and all(isinstance(c, str) for c in classes)
        ):
            raise CheckpointError(f"{path} has no valid class names (a list of 2 or more names)")
        if len(classes) > MAX_CLASSES:
            raise CheckpointError(
                f"refused {path}: it claims {len(classes)} classes; the lab's limit is "
                f"{MAX_CLASSES} (ImageNet's count)"
            )
        classes = tuple(classes)
        mean = _channel_values(payload.get("mean"), "mean", path)
        std = _channel_values(payload.get("std"), "std", path)
        if min(std) <= 0:
            raise CheckpointError(f"{path} has a std of {std}: every channel must be > 0")
        state = payload.get("model")
    with torch.device("meta"):  # the architecture it claims, without allocating it
        claimed = build_model(config.model, num_classes=len(classes)).state_dict()
    state = check_state_dict(claimed, state, str(path))
    model = build_model(config.model, num_classes=len(classes))
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return LoadedModel(model, config, classes, tuple(mean), tuple(std), payload, path)


# --- the training state a run resumes from -------------------------------------------------------


@dataclass(frozen=True)
class StoppingState:
    """Early stopping's state in a checkpoint (``EarlyStopping.state_dict``), checked like a
    config: each field of its type, then against the run's history in ``read_resume_state``."""

    patience: int
    mode: str
    min_delta: float
    best: float | None
    best_epoch: int
    epoch: int
    counter: int

    def __post_init__(self) -> None:
        validate(self, "early_stopping")


@dataclass(frozen=True)
class EpochPosition:
    """Where a ``last.pt`` written inside an epoch stands: the epoch, how many of its batches
    are done, their running totals and the epoch's starting learning rate. A resumed run
    skips those batches (drawing their shuffles and augmentations all the same) and ends the
    epoch with the figures an uninterrupted one would have."""

    epoch: int
    batch: int
    loss_sum: float
    correct: int
    seen: int
    seconds: float
    lr: float

    def __post_init__(self) -> None:
        validate(self, "position")
        if not (1 <= self.batch <= self.seen and 0 <= self.correct <= self.seen):
            raise ConfigError(
                f"batch {self.batch}, seen {self.seen} and correct {self.correct} do not fit "
                "together"
            )
        if not all(math.isfinite(v) and v >= 0 for v in (self.loss_sum, self.seconds, self.lr)):
            raise ConfigError("loss_sum, seconds and lr must be finite numbers >= 0")


def training_payload(
    config: RunConfig,
    splits: Splits,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    stopper: EarlyStopping,
    history: list[dict],
    elapsed_s: float,
    outcome: Outcome | None,
    reason: str | None,
    position: EpochPosition | None = None,
) -> dict:
    """Everything ``best.pt`` and ``last.pt`` hold: the model with what rebuilds and feeds it
    (config, classes, statistics), and the state training continues from: after
    ``len(history)`` epochs, plus ``position`` inside the next one."""
    return {
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
        "epoch": len(history),
        "position": asdict(position) if position is not None else None,
        "elapsed_s": elapsed_s,
        "outcome": outcome.value if outcome is not None else None,
        "reason": reason,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
    }


@dataclass(frozen=True)
class ResumeState:
    """A run's ``last.pt``, read back and checked field by field."""

    config: RunConfig
    payload: dict
    history: list[dict]
    stopping: StoppingState
    position: EpochPosition | None
    elapsed_s: float
    outcome: Outcome | None
    reason: str | None

    def restore(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        stopper: EarlyStopping,
        path: Path,
    ) -> None:
        """Load the weights, optimizer, schedule, early-stopping state and random streams."""
        load_state_dict_strict(model, self.payload.get("model"), str(path))
        try:
            optimizer.load_state_dict(self.payload["optimizer"])
            if scheduler is not None and self.payload.get("scheduler"):
                scheduler.load_state_dict(self.payload["scheduler"])
            torch.set_rng_state(self.payload["rng"]["torch"])
            cuda = self.payload["rng"].get("cuda") or []
            if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            raise _cannot_resume(path, f"a damaged or incompatible checkpoint ({error})") from error
        stopper.load_state_dict(asdict(self.stopping))


def _cannot_resume(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"cannot resume from {path}: {why}")


def _checked(cls: type, values: object, what: str, path: Path) -> Any:
    """``cls(**values)``, refused in one line when ``values`` is not a mapping of its fields
    of the right types."""
    if not isinstance(values, dict):
        raise _cannot_resume(path, f"{what} is {values!r:.60}, not a mapping")
    try:
        return cls(**values)
    except TypeError as error:  # a missing or unknown field
        raise _cannot_resume(path, f"{what} has the wrong fields ({error})") from error
    except ConfigError as error:
        raise _cannot_resume(path, f"{what}: {error}") from error


def _check_progress(
    path: Path, payload: dict, history: list, stopping: StoppingState, outcome: Outcome | None
) -> EpochPosition | None:
    """The counts of a checkpoint must agree: its epoch, its history, early stopping's
    counters and the position inside the next epoch (an early-stopping epoch of 10**6 would
    otherwise "complete" a run that never trained)."""
    done = len(history)
    if [row.epoch for row in history] != list(range(1, done + 1)):
        raise _cannot_resume(path, "its history does not number its epochs 1, 2, 3 ...")
    epoch = payload.get("epoch")
    if type(epoch) is not int or epoch != done:
        raise _cannot_resume(path, f"epoch is {epoch!r} but its history holds {done} epochs")
    best_ok = (stopping.best is None) == (stopping.best_epoch == 0) and (
        stopping.best is None or math.isfinite(stopping.best)
    )
    if (
        stopping.epoch != done
        or not 0 <= stopping.best_epoch <= done
        or not 0 <= stopping.counter <= done
        or not best_ok
    ):
        raise _cannot_resume(
            path,
            f"its early-stopping state (epoch {stopping.epoch}, best {stopping.best!r} at "
            f"epoch {stopping.best_epoch}, counter {stopping.counter}) does not fit its "
            f"{done} epochs of history",
        )
    raw = payload.get("position")
    if raw is None:
        return None
    position = _checked(EpochPosition, raw, "position", path)
    if position.epoch != done + 1 or outcome is not None:
        raise _cannot_resume(
            path, f"its position inside epoch {position.epoch} does not follow epoch {done}"
        )
    return position


def read_resume_state(path: str | os.PathLike) -> ResumeState:
    """The state a run continues from, checked like a config: every field of its type, and
    the counts in agreement; refused with one line when something is damaged."""
    path = Path(path)
    payload = read_checkpoint(path)
    config = checkpoint_config(payload, path)
    rows = payload.get("history")
    if not isinstance(rows, list):
        raise _cannot_resume(path, f"its history is {rows!r:.60}, not a list of epochs")
    history = [_checked(EpochRow, row, f"history row {i}", path) for i, row in enumerate(rows, 1)]
    stopping = _checked(StoppingState, payload.get("early_stopping"), "early_stopping", path)
    elapsed = payload.get("elapsed_s", 0.0)
    number = not isinstance(elapsed, bool) and isinstance(elapsed, (int, float))
    if not (number and math.isfinite(elapsed) and elapsed >= 0):
        raise _cannot_resume(path, f"elapsed_s is {elapsed!r}, not a number of seconds")
    stored = payload.get("outcome")
    if payload["format_version"] >= 2:
        outcome = Outcome.parse(stored) if stored is not None else None
        if stored is not None and outcome is None:
            raise _cannot_resume(path, f"outcome {stored!r} is not one the lab writes")
    else:  # version 1 marked a run that reached its end with "finished"
        done = payload.get("finished") is True
        early = len(history) < config.train.epochs
        outcome = (Outcome.EARLY_STOPPED if early else Outcome.FINISHED) if done else None
    position = _check_progress(path, payload, history, stopping, outcome)
    reason = payload.get("reason") if isinstance(payload.get("reason"), str) else None
    return ResumeState(
        config, payload, list(rows), stopping, position, float(elapsed), outcome, reason
    )
