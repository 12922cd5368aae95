"""The test-split evaluation a run keeps: computed once, read back in milliseconds.

At the end of training ``fit`` scores the best checkpoint on the test split; this module keeps
what that computed (every probability, the labels, the loss) in the run folder as
``evaluation.pt``, written atomically, versioned, and tied to the identity of the checkpoint it
came from. Every view of a finished run (confusion, per-class metrics, calibration, confused
pairs, top losses, comparisons) is derived from it. A changed ``best.pt`` (a resumed run that
improved, a file copied in) no longer matches, so its evaluation is computed anew; runs made
before this file existed get theirs computed once, on demand, with progress.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lab.checkpoint import check_classes, load_model, read_checkpoint
from lab.data import Dataset, Progress
from lab.errors import CheckpointError
from lab.evaluate import Evaluation, evaluate_model
from lab.io import atomic_save
from lab.runs import EVALUATION

KIND = "cifar-lab-evaluation"
FORMAT_VERSION = 1


def checkpoint_identity(path: Path) -> dict:
    """What changes whenever the checkpoint file is rewritten (its size and modification
    time), and survives a copy that keeps times (``cp -p``, ``shutil.copytree``)."""
    stat = Path(path).stat()
    return {"name": Path(path).name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def save_evaluation(run_dir: Path, evaluation: Evaluation, checkpoint: Path) -> Path:
    """Keep ``evaluation`` (of ``checkpoint`` on the test split) in the run folder."""
    payload = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "checkpoint": checkpoint_identity(checkpoint),
        "classes": list(evaluation.classes),
        "labels": torch.from_numpy(np.asarray(evaluation.labels, dtype=np.int64)),
        "probabilities": torch.from_numpy(np.asarray(evaluation.probabilities, np.float32)),
        "loss": float(evaluation.loss),
    }
    return atomic_save(payload, Path(run_dir) / EVALUATION)


def load_evaluation(run_dir: Path, checkpoint: Path) -> Evaluation | None:
    """The kept evaluation of ``checkpoint``, or None when there is none, it is damaged or of
    another version, or it was made from a checkpoint file that has since changed."""
    path = Path(run_dir) / EVALUATION
    if not path.is_file() or not Path(checkpoint).is_file():
        return None
    try:
        payload = read_checkpoint(path)
    except CheckpointError:
        return None
    if (
        payload.get("kind") != KIND
        or payload.get("format_version") != FORMAT_VERSION
        or payload.get("checkpoint") != checkpoint_identity(checkpoint)
    ):
        return None
    labels, probabilities = payload.get("labels"), payload.get("probabilities")
    classes = payload.get("classes")
    if not (
        isinstance(labels, torch.Tensor)
        and isinstance(probabilities, torch.Tensor)
        and isinstance(classes, list)
        and probabilities.ndim == 2
        and probabilities.shape == (len(labels), len(classes))
        and isinstance(payload.get("loss"), float)
    ):
        return None
    return Evaluation(tuple(classes), labels.numpy(), probabilities.numpy(), payload["loss"])


def run_evaluation(
    run_dir: Path,
    checkpoint: Path,
    dataset: Dataset,
    *,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> Evaluation:
    """The evaluation of ``checkpoint`` on ``dataset``'s test split: the kept one when it
    matches, else computed (with ``progress(done, total)``) and kept for next time."""
    kept = load_evaluation(run_dir, checkpoint)
    if kept is not None:
        return kept
    loaded = load_model(checkpoint, device=device)
    check_classes(loaded, dataset.classes)
    evaluation = evaluate_model(loaded, dataset.test, progress=progress)
    if os.access(run_dir, os.W_OK):
        save_evaluation(run_dir, evaluation, checkpoint)
    return evaluation
