"""Run folders: ``runs/<name>/`` with best.pt, last.pt, config.json, history.csv, metrics.json.

Names are sanitised (letters, digits, ``-``, ``_``, ``.``; no separators, no ``..``) and every
run gets a folder of its own, created atomically, so two runs never share one and a run can
never write outside the runs folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab.errors import ConfigError, LabError
from lab.io import atomic_write_text

BEST = "best.pt"
LAST = "last.pt"
CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
RUNS_ENV = "CIFAR_LAB_RUNS"
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
    "images_per_s",
)
MAX_NAME = 64
# Everything the lab writes in a run folder, and the temp files its atomic writes leave behind
# when a kill interrupts one (see ``lab.io.atomic_write``).
RUN_FILES = frozenset({BEST, LAST, CONFIG, HISTORY, METRICS})
TEMP_FILE = re.compile(
    r"\.(?:" + "|".join(re.escape(name) for name in sorted(RUN_FILES)) + r")\.\w+\.tmp"
)


def default_runs_dir() -> Path:
    return Path(os.environ.get(RUNS_ENV, "runs")).expanduser()


def sanitize_name(name: str) -> str:
    """A safe folder name: unsafe characters become ``-``, no leading dots, at most 64 chars."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip())
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip(".-")[:MAX_NAME].strip(".-")
    if not cleaned:
        raise ConfigError(f"run name {name!r} has no usable characters: use letters and digits")
    return cleaned


def _make_runs_dir(runs_dir: Path) -> None:
    """Create the runs folder if needed, or say in one line why it cannot be used."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise LabError(f"the runs folder {runs_dir} is a file, not a folder: choose another")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        blocking = next((p for p in runs_dir.parents if p.exists() and not p.is_dir()), None)
        what = f"{blocking.name} is a file" if blocking else error.strerror
        raise LabError(f"the runs folder {runs_dir} cannot be made: {what}") from error
    except OSError as error:
        raise LabError(f"cannot create the runs folder {runs_dir} ({error.strerror})") from error


def create_run_dir(runs_dir: Path, name: str | None = None, prefix: str = "run") -> Path:
    """Create a new, empty run folder; ``name``, else ``<prefix>-<time>``, suffixed if taken."""
    runs_dir = Path(runs_dir)
    _make_runs_dir(runs_dir)
    base = (
        sanitize_name(name) if name else sanitize_name(f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    for attempt in range(1, 10_000):
        candidate = runs_dir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()  # atomic: fails if another run took the name first
        except FileExistsError:
            continue
        except OSError as error:
            raise LabError(
                f"cannot write in the runs folder {runs_dir} ({error.strerror}): choose another"
            ) from error
        if candidate.resolve().parent != runs_dir.resolve():
            raise ConfigError(f"run folder {candidate} would be outside {runs_dir}")
        return candidate
    raise LabError(f"no free run name for {base!r} in {runs_dir}")


def _foreign_entries(run_dir: Path) -> list[str]:
    """What in ``run_dir`` the lab did not write: anything but its run files and the temp files
    of its atomic writes (``.last.pt.k2j4x9.tmp``), and any link or subfolder."""
    foreign = []
    for entry in sorted(os.scandir(run_dir), key=lambda e: e.name):
        ours = entry.name in RUN_FILES or TEMP_FILE.fullmatch(entry.name)
        if entry.is_symlink():
            foreign.append(f"{entry.name} is a link")
        elif not ours or not entry.is_file(follow_symlinks=False):
            foreign.append(entry.name)
    return foreign


def delete_run(run_dir: Path, runs_dir: Path) -> None:
    """Remove a run folder the lab made, and only that: a folder (not a link) directly inside
    ``runs_dir`` that holds its ``config.json`` and nothing but the lab's own files (the run
    files and the temp files of interrupted writes). Anything else is refused with nothing
    deleted; the files are removed one by one, so no link is ever followed."""
    run_dir, runs_dir = Path(run_dir), Path(runs_dir)
    if run_dir.is_symlink():
        raise LabError(f"{run_dir} is a link, not a run folder: nothing deleted")
    if not run_dir.is_dir() or run_dir.resolve().parent != runs_dir.resolve():
        raise LabError(f"{run_dir} is not a run folder of {runs_dir}: nothing deleted")
    problems = _foreign_entries(run_dir)
    if not (run_dir / CONFIG).is_file():
        problems.insert(0, f"no {CONFIG}")
    if problems:
        raise LabError(
            f"{run_dir} is not a run folder the lab made ({', '.join(problems[:5])}): "
            "nothing deleted"
        )
    for entry in os.scandir(run_dir):
        os.unlink(entry.path)
    run_dir.rmdir()


def remove_empty_run_dir(run_dir: Path) -> None:
    """Remove a run folder that holds nothing yet (a run cancelled before it started)."""
    with contextlib.suppress(OSError):  # not empty, or gone already: leave it
        Path(run_dir).rmdir()


def existing_run_dir(runs_dir: Path, name: str) -> Path:
    """The folder of run ``name`` in ``runs_dir``; refused if it is a link leading outside."""
    runs_dir = Path(runs_dir)
    run_dir = runs_dir / sanitize_name(name)
    if run_dir.resolve().parent != runs_dir.resolve():
        raise ConfigError(f"run folder {run_dir} leads outside {runs_dir}")
    return run_dir


def write_config(run_dir: Path, config) -> None:
    atomic_write_text(json.dumps(config.to_dict(), indent=2), run_dir / CONFIG)


def _clean(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_history(run_dir: Path, history: list[dict]) -> None:
    frame = pd.DataFrame(history, columns=list(HISTORY_COLUMNS))
    atomic_write_text(frame.to_csv(index=False), run_dir / HISTORY)


def read_history(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return pd.read_csv(path)


def write_metrics(run_dir: Path, metrics: dict) -> None:
    clean = {key: _clean(value) for key, value in metrics.items()}
    atomic_write_text(json.dumps(clean, indent=2), run_dir / METRICS)


def read_metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / METRICS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_config(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class RunInfo:
    """What the runs table shows about one run folder."""

    name: str
    path: Path
    config: dict
    metrics: dict
    epochs: int
    modified: float

    @property
    def best_val_acc(self) -> float | None:
        return self.metrics.get("best_val_acc")

    @property
    def test_acc(self) -> float | None:
        return self.metrics.get("test_acc")


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """Every run folder that holds a checkpoint, newest first."""
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    found = []
    for path in runs_dir.iterdir():
        checkpoint = path / LAST
        if not path.is_dir() or not (checkpoint.exists() or (path / BEST).exists()):
            continue
        history = read_history(path)
        found.append(
            RunInfo(
                name=path.name,
                path=path,
                config=read_config(path),
                metrics=read_metrics(path),
                epochs=len(history),
                modified=max(p.stat().st_mtime for p in path.iterdir()),
            )
        )
    return sorted(found, key=lambda run: run.modified, reverse=True)


def resolve_checkpoint(run_or_path: str | os.PathLike, runs_dir: Path | None = None) -> Path:
    """A checkpoint file from a path, a run folder, or a run name in the runs folder."""
    path = Path(run_or_path).expanduser()
    candidates = [path]
    if not path.is_absolute() and len(path.parts) == 1:
        candidates.append((Path(runs_dir) if runs_dir else default_runs_dir()) / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.is_dir():
            for name in (BEST, LAST):
                if (candidate / name).is_file():
                    return candidate / name
            raise LabError(f"run folder {candidate} holds no {BEST} or {LAST} yet")
    raise LabError(
        f"no checkpoint or run named {str(run_or_path)!r}: give a .pt/.pth file, a run folder, "
        "or a name listed by 'cifar-lab runs'"
    )
