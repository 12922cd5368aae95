"""Run cards: one zip that takes a finished run elsewhere.

A card holds the run's ``config.json``, ``history.csv`` and ``metrics.json`` as written by
``lab.runs``, the confusion matrix of its best checkpoint on the test split
(``confusion_matrix.csv``, rows true, columns predicted), the checkpoint itself (``best.pt``, or
``last.pt`` for a run that never improved), ``versions.json`` with the versions of Python,
torch, torchvision and the lab, so the numbers can be reproduced, and ``train.py``, the run's
recipe as one standalone PyTorch script (``lab.codegen``) that trains it again without the lab.
Every entry sits in a folder named after the run, so unpacking never scatters files.
"""

from __future__ import annotations

import json
import os
import platform
import time
import zipfile
from pathlib import Path
from typing import IO

import pandas as pd
import torch
import torchvision

import lab
from lab import runs
from lab.checkpoint import check_classes, load_model
from lab.codegen import render_script
from lab.config import RunConfig
from lab.data import Dataset, load_dataset
from lab.errors import LabError
from lab.evaluate import Evaluation, evaluate_model
from lab.io import atomic_write

CONFUSION = "confusion_matrix.csv"
VERSIONS = "versions.json"
SCRIPT = "train.py"


def versions() -> dict[str, str]:
    """Versions of what produced and reads the run."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lab": lab.__version__,
    }


def confusion_csv(evaluation: Evaluation) -> str:
    """The confusion matrix as CSV with class names: rows true classes, columns predicted."""
    frame = pd.DataFrame(
        evaluation.confusion(), index=list(evaluation.classes), columns=list(evaluation.classes)
    )
    frame.index.name = "true \\ predicted"
    return frame.to_csv()


def write_run_card(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    evaluation: Evaluation | None = None,
    dataset: Dataset | None = None,
    device: torch.device | str = "cpu",
) -> Path:
    """Write the run card of ``run_dir`` to the zip file ``out`` (atomically) and return its path.

    The confusion matrix comes from ``evaluation`` when given (the page has one cached);
    otherwise the checkpoint is evaluated on the test split of ``dataset``, loaded from the
    run's own data source when not given.
    """
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG).is_file():
        raise LabError(f"{run_dir} is not a run folder: it has no {runs.CONFIG}")
    checkpoint = runs.resolve_checkpoint(run_dir)
    if evaluation is None:
        loaded = load_model(checkpoint, device=device)
        if dataset is None:
            dataset = load_dataset(loaded.config.data.source)
        check_classes(loaded, dataset.classes)
        evaluation = evaluate_model(loaded, dataset.test)
    info = {
        **versions(),
        "run": run_dir.name,
        "checkpoint": checkpoint.name,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    script = render_script(RunConfig.from_dict(runs.read_config(run_dir)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = run_dir.name

    def write_card(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as card:
            card.write(run_dir / runs.CONFIG, f"{folder}/{runs.CONFIG}")
            # A run stopped before its first epoch or its end lacks these: empty stand-ins.
            for name, empty in (
                (runs.HISTORY, ",".join(runs.HISTORY_COLUMNS) + "\n"),
                (runs.METRICS, "{}"),
            ):
                if (run_dir / name).is_file():
                    card.write(run_dir / name, f"{folder}/{name}")
                else:
                    card.writestr(f"{folder}/{name}", empty)
            card.writestr(f"{folder}/{CONFUSION}", confusion_csv(evaluation))
            # Weights barely compress; storing them saves seconds on a 700 MB notebook checkpoint.
            card.write(checkpoint, f"{folder}/{checkpoint.name}", compress_type=zipfile.ZIP_STORED)
            card.writestr(f"{folder}/{VERSIONS}", json.dumps(info, indent=2))
            card.writestr(f"{folder}/{SCRIPT}", script)

    atomic_write(out, write_card)
    return out
