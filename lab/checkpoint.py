"""Versioned checkpoints, written atomically and loaded safely.

Every checkpoint stores the full run config, class names, normalisation statistics and a format
version beside the weights, so the model is always rebuilt from the checkpoint itself. Loading
uses ``torch.load(weights_only=True)``: a file whose unpickling would run code is refused.
A notebook's bare ``alex_net.pth`` state_dict loads as the ``alexnet`` model.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.config import RunConfig
from lab.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, Splits
from lab.early_stopping import EarlyStopping
from lab.errors import CheckpointError, ConfigError
from lab.models import build_model
from lab.outcome import Outcome
from lab.presets import notebook_config

# 2: the end of a run is a typed ``outcome`` (version 1 stored a ``finished`` flag).
FORMAT_VERSION = 2
CHECKPOINT_KIND = "cifar-lab-checkpoint"


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint file as plain data, refusing anything that would execute code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
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


def load_state_dict_strict(model: nn.Module, state: dict, source: str) -> None:
    """Load weights strictly, turning key or shape mismatches into one readable error."""
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{source} holds no model weights (a name -> tensor mapping)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = model.state_dict()
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
    model.load_state_dict(state, strict=True)


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


def checkpoint_config(payload: dict, path: str | os.PathLike) -> RunConfig:
    """The ``RunConfig`` stored in a CIFAR Lab checkpoint, after checking its kind and version."""
    version = payload.get("format_version")
    if payload.get("kind") != CHECKPOINT_KIND or not isinstance(version, int):
        raise CheckpointError(f"{path} is not a CIFAR Lab checkpoint or model state_dict")
    if version > FORMAT_VERSION:
        raise CheckpointError(
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
        classes = tuple(classes)
        mean = _channel_values(payload.get("mean"), "mean", path)
        std = _channel_values(payload.get("std"), "std", path)
        if min(std) <= 0:
            raise CheckpointError(f"{path} has a std of {std}: every channel must be > 0")
        state = payload.get("model")
    model = build_model(config.model, num_classes=len(classes))
    load_state_dict_strict(model, state, str(path))
    model.to(device).eval()
    return LoadedModel(model, config, classes, tuple(mean), tuple(std), payload, path)


# --- the training state a run resumes from -------------------------------------------------------


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
) -> dict:
    """Everything ``best.pt`` and ``last.pt`` hold: the model with what rebuilds and feeds it
    (config, classes, statistics), and the state training continues from."""
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
        "elapsed_s": elapsed_s,
        "outcome": outcome.value if outcome is not None else None,
        "reason": reason,
        "rng": {"torch": torch.get_rng_state()},
    }


@dataclass(frozen=True)
class ResumeState:
    """A run's ``last.pt``, read back and checked field by field."""

    config: RunConfig
    payload: dict
    history: list[dict]
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
            stopper.load_state_dict(self.payload["early_stopping"])
            torch.set_rng_state(self.payload["rng"]["torch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"cannot resume from {path}: a damaged or incompatible checkpoint "
                f"({type(error).__name__}: {error})"
            ) from error


def read_resume_state(path: str | os.PathLike) -> ResumeState:
    """The state a run continues from, refused with one line when a field is damaged."""
    path = Path(path)
    payload = read_checkpoint(path)
    config = checkpoint_config(payload, path)
    history = payload.get("history")
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise CheckpointError(f"cannot resume from {path}: its history is not a list of epochs")
    elapsed = payload.get("elapsed_s", 0.0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise CheckpointError(f"cannot resume from {path}: elapsed_s is {elapsed!r}")
    if payload["format_version"] >= 2:
        outcome = Outcome.parse(payload.get("outcome")) if payload.get("outcome") else None
    else:  # version 1 marked a run that reached its end with "finished"
        done = payload.get("finished") is True
        early = len(history) < config.train.epochs
        outcome = (Outcome.EARLY_STOPPED if early else Outcome.FINISHED) if done else None
    reason = payload.get("reason") if isinstance(payload.get("reason"), str) else None
    return ResumeState(config, payload, history, float(elapsed), outcome, reason)
