"""Run folders: ``runs/<name>/`` with best.pt, last.pt, config.json, history.csv, metrics.json
and owner.json.

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
from dataclasses import dataclass, fields
from numbers import Integral, Real
from pathlib import Path

import pandas as pd

from lab.config import RunConfig, validate
from lab.errors import ConfigError, LabError
from lab.io import atomic_write_text
from lab.locks import LOCK, check_free, hold_new, holder, let_go

BEST = "best.pt"
LAST = "last.pt"
CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
# Who started the run, by the name they gave the lab (for the class board): {"name": ...}.
OWNER = "owner.json"
RUNS_ENV = "CIFAR_LAB_RUNS"


@dataclass(frozen=True)
class EpochRow:
    """One line of ``history.csv`` (and of a checkpoint's history), checked like a config:
    each value of its type (NaN allowed: a diverged epoch records it)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    test_loss: float | None
    test_acc: float | None
    lr: float
    seconds: float
    images_per_s: float

    def __post_init__(self) -> None:
        validate(self, "history")


HISTORY_COLUMNS = tuple(item.name for item in fields(EpochRow))
MAX_NAME = 64
# Everything the lab writes in a run folder (the lock of a killed writer included), and the temp
# files its atomic writes leave behind when a kill interrupts one (see ``lab.io.atomic_write``).
# The test evaluation of best.pt that fit keeps (lab.stored_evaluation).
EVALUATION = "evaluation.pt"
# A subfolder of analysis caches (lab.lenses), each file rebuilt when missing.
LENSES = "lenses"
RUN_FILES = frozenset({BEST, LAST, CONFIG, HISTORY, METRICS, LOCK, EVALUATION, OWNER})
# The weights a sweep keeps for a smaller patience (lab.sweep): best-p3.pt, best-epoch7.pt.
SWEEP_CHECKPOINT = re.compile(r"best-(?:p|epoch)\d+\.pt")
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


def unstarted(run_dir: Path) -> bool:
    """Whether no run has started in ``run_dir``: it is missing, or holds nothing but what a run
    killed before it wrote its ``config.json`` leaves (its lock file, and the temp file of that
    write cut short) and nobody trains it."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return True
    if run_dir.is_symlink() or not run_dir.is_dir():
        return False
    leftovers = all(
        (entry.name == LOCK or TEMP_FILE.fullmatch(entry.name))
        and entry.is_file(follow_symlinks=False)
        for entry in os.scandir(run_dir)
    )
    return leftovers and holder(run_dir) is None


def _take(candidate: Path, made: bool) -> bool:
    """Hold ``candidate`` for a new run: a folder just made, or one no run started in, cleared
    of its temp files (checked again once held, so two processes never take the same one)."""
    if not made and not unstarted(candidate):
        return False
    try:
        if not hold_new(candidate):
            return False
    except OSError:  # a file system that cannot flock folders: only one made now is ours
        return made
    if made or unstarted(candidate):
        remove_temp_files(candidate)
        return True
    let_go(candidate)
    return False


def create_run_dir(
    runs_dir: Path, name: str | None = None, prefix: str = "run", *, exact: bool = False
) -> Path:
    """A new, empty run folder: ``name``, else ``<prefix>-<time>``, suffixed when another run
    has that name (``exact``: refused instead). A folder no run started in (``unstarted``: its
    process was killed first) does not take the name: it is reused. The folder is held for
    this process until its run takes its lock (``lab.locks.hold_new``), so a run waiting in a
    job queue keeps its name."""
    runs_dir = Path(runs_dir)
    _make_runs_dir(runs_dir)
    base = (
        sanitize_name(name) if name else sanitize_name(f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    for attempt in range(1, 2 if exact else 10_000):
        candidate = runs_dir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()  # atomic: fails if another run took the name first
            made = True
        except FileExistsError:
            made = False
        except OSError as error:
            raise LabError(
                f"cannot write in the runs folder {runs_dir} ({error.strerror}): choose another"
            ) from error
        if made and candidate.resolve().parent != runs_dir.resolve():
            raise ConfigError(f"run folder {candidate} would be outside {runs_dir}")
        if _take(candidate, made):
            return candidate
    if exact:
        why = (
            "is taken by a run about to start (in another process, or queued in this one)"
            if unstarted(runs_dir / base)
            else "holds a run already"
        )
        raise LabError(f"run folder {runs_dir / base} {why}: choose another name")
    raise LabError(f"no free run name for {base!r} in {runs_dir}")


def _foreign_entries(run_dir: Path) -> list[str]:
    """What in ``run_dir`` the lab did not write: anything but its run files and the temp files
    of its atomic writes (``.last.pt.k2j4x9.tmp``), and any link or subfolder."""
    foreign = []
    for entry in sorted(os.scandir(run_dir), key=lambda e: e.name):
        ours = (
            entry.name in RUN_FILES
            or TEMP_FILE.fullmatch(entry.name)
            or SWEEP_CHECKPOINT.fullmatch(entry.name)
        )
        if entry.is_symlink():
            foreign.append(f"{entry.name} is a link")
        elif entry.name == LENSES and entry.is_dir(follow_symlinks=False):
            caches = list(os.scandir(entry.path))
            foreign += [
                f"{LENSES}/{c.name}" for c in caches if not c.is_file(follow_symlinks=False)
            ]
        elif not ours or not entry.is_file(follow_symlinks=False):
            foreign.append(entry.name)
    return foreign


def remove_temp_files(run_dir: Path) -> None:
    """Remove the temp files that writes cut short by a kill left in ``run_dir``."""
    for entry in os.scandir(run_dir):
        if TEMP_FILE.fullmatch(entry.name) and not entry.is_dir(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)


def delete_run(run_dir: Path, runs_dir: Path) -> None:
    """Remove a run folder the lab made, and only that: a folder (not a link) directly inside
    ``runs_dir`` that holds its ``config.json`` and nothing but the lab's own files (the run
    files and the temp files of interrupted writes), and that no process is training.
    Anything else is refused with nothing deleted; the files are removed one by one, so no
    link is ever followed."""
    run_dir, runs_dir = Path(run_dir), Path(runs_dir)
    if run_dir.is_symlink():
        raise LabError(f"{run_dir} is a link, not a run folder: nothing deleted")
    if not run_dir.is_dir() or run_dir.resolve().parent != runs_dir.resolve():
        raise LabError(f"{run_dir} is not a run folder of {runs_dir}: nothing deleted")
    check_free(run_dir)
    problems = _foreign_entries(run_dir)
    if not (run_dir / CONFIG).is_file():
        problems.insert(0, f"no {CONFIG}")
    if problems:
        raise LabError(
            f"{run_dir} is not a run folder the lab made ({', '.join(problems[:5])}): "
            "nothing deleted"
        )
    if (run_dir / LENSES).is_dir():
        for entry in os.scandir(run_dir / LENSES):
            os.unlink(entry.path)
        (run_dir / LENSES).rmdir()
    for entry in os.scandir(run_dir):
        os.unlink(entry.path)
    run_dir.rmdir()


def remove_empty_run_dir(run_dir: Path) -> None:
    """Remove a run folder that holds nothing yet (a run cancelled before it started)."""
    let_go(run_dir)
    with contextlib.suppress(OSError):  # not empty, or gone already: leave it
        Path(run_dir).rmdir()


def existing_run_dir(runs_dir: Path, name: str) -> Path:
    """The folder of run ``name`` in ``runs_dir``; refused if it is a link leading outside."""
    runs_dir = Path(runs_dir)
    run_dir = runs_dir / sanitize_name(name)
    if run_dir.resolve().parent != runs_dir.resolve():
        raise ConfigError(f"run folder {run_dir} leads outside {runs_dir}")
    return run_dir


def write_config(run_dir: Path, config: RunConfig) -> None:
    atomic_write_text(json.dumps(config.to_dict(), indent=2), run_dir / CONFIG)


def _clean(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_history(run_dir: Path, history: list[dict]) -> None:
    frame = pd.DataFrame(history, columns=list(HISTORY_COLUMNS))
    atomic_write_text(frame.to_csv(index=False), run_dir / HISTORY)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_history(run_dir: Path) -> pd.DataFrame:
    """``history.csv`` (empty when the run has none yet); a ``LabError`` when it is damaged."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:  # pandas' ParserError and EmptyDataError included
        raise LabError(f"{HISTORY} cannot be read ({_first_line(error)})") from error
    if "epoch" not in frame.columns:
        raise LabError(f"{HISTORY} has no epoch column")
    for column in (c for c in HISTORY_COLUMNS if c in frame.columns):
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        wrong = values[numbers.isna() & values.notna()]
        if not wrong.empty:
            raise LabError(f"{HISTORY}: {column} holds {wrong.iloc[0]!r}, not numbers")
    return frame


def write_metrics(run_dir: Path, metrics: dict) -> None:
    clean = {key: _clean(value) for key, value in metrics.items()}
    atomic_write_text(json.dumps(clean, indent=2), run_dir / METRICS)


def _read_json_object(run_dir: Path, name: str) -> dict:
    """A run's JSON file as a mapping: {} when the file does not exist, a ``LabError`` naming
    the damage when it cannot be read or holds something else."""
    path = Path(run_dir) / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise LabError(f"{name} cannot be read ({_first_line(error)})") from error
    try:
        value = json.loads(text)
    except ValueError as error:
        raise LabError(f"{name} is not JSON ({_first_line(error)})") from error
    if not isinstance(value, dict):
        raise LabError(f"{name} is not a JSON object: {text.strip()[:40]}")
    return value


# The fields of metrics.json that the lab reads, and what each must be when it is not null.
METRIC_KINDS = {
    **dict.fromkeys(("best_value", "best_val_acc", "test_acc", "test_loss", "wall_s"), Real),
    **dict.fromkeys(("best_epoch", "epochs_run", "train_images"), Integral),
    **dict.fromkeys(("preset", "model", "monitor", "outcome", "reason", "device"), str),
}
_KIND_WORDS = {Real: "a number", Integral: "a whole number", str: "text"}


def read_metrics(run_dir: Path) -> dict:
    """``metrics.json`` ({} before the run ends); a ``LabError`` when it is damaged."""
    metrics = _read_json_object(run_dir, METRICS)
    for key, kind in METRIC_KINDS.items():
        value = metrics.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            raise LabError(f"{METRICS}: {key} is {value!r}, not {_KIND_WORDS[kind]}")
    return metrics


def read_config(run_dir: Path) -> dict:
    """``config.json`` as stored ({} when the run has none); a ``LabError`` when it is damaged
    or not a valid run config."""
    values = _read_json_object(run_dir, CONFIG)
    if values:
        try:
            RunConfig.from_dict(values)
        except ConfigError as error:
            raise LabError(f"{CONFIG} is invalid: {error}") from error
    return values


MAX_OWNER_NAME = 40


def owner_name(text: str) -> str:
    """A student's name as the lab records and shows it to others: letters, digits, spaces and
    ``.'-`` only (nothing a page could read as markup), runs of spaces as one, at most 40
    characters; "" when nothing usable is left."""
    kept = re.sub(r"[^\w\s.'-]|_", "", text)
    return " ".join(kept.split())[:MAX_OWNER_NAME].strip()


def write_owner(run_dir: Path, name: str) -> None:
    """Record in ``owner.json`` who started the run, by ``name`` as ``owner_name`` keeps it."""
    kept = owner_name(name)
    if not kept:
        raise ConfigError(f"the name {name!r} has no usable characters: use letters and digits")
    atomic_write_text(json.dumps({"name": kept}), Path(run_dir) / OWNER)


def read_owner(run_dir: Path) -> str | None:
    """The name ``owner.json`` records (None for a run without one, as the command line's);
    a ``LabError`` when it is damaged."""
    name = _read_json_object(run_dir, OWNER).get("name")
    if name is not None and (not isinstance(name, str) or not name or owner_name(name) != name):
        raise LabError(f"{OWNER}: name is {name!r}, not a name the lab records")
    return name


def checkpoint_to_show(run_dir: Path) -> Path:
    """The checkpoint of a run that its views, evaluation and classification read unless told
    otherwise: best.pt (the best epoch's weights) when it has one, else last.pt, which a run
    killed before its first checkpoint does not have yet."""
    best = Path(run_dir) / BEST
    return best if best.is_file() else Path(run_dir) / LAST


@dataclass(frozen=True)
class RunInfo:
    """What the runs table shows about one run folder."""

    name: str
    path: Path
    config: dict  # {} when config.json is missing or damaged
    metrics: dict  # {} before the run ends, or when metrics.json is damaged
    epochs: int
    modified: float
    # ``checkpoint_to_show``; None for a run killed before its first checkpoint (its resume
    # starts it again from epoch 1).
    checkpoint: Path | None = None
    # Why some file of the run cannot be read, when one cannot; the rest of the run still shows.
    damaged: str | None = None

    @property
    def best_val_acc(self) -> float | None:
        return self.metrics.get("best_val_acc")

    @property
    def test_acc(self) -> float | None:
        return self.metrics.get("test_acc")


def _modified(path: Path) -> float:
    """The newest modification time in a run folder (a file may vanish while it is read)."""
    times = [path.stat().st_mtime]
    for entry in os.scandir(path):
        with contextlib.suppress(OSError):
            times.append(entry.stat(follow_symlinks=False).st_mtime)
    return max(times)


def inspect_run(path: Path) -> RunInfo:
    """One run folder as the runs table shows it; each file that cannot be read is named in
    ``damaged`` and counts as missing."""
    problems: list[str] = []

    def read(reader, empty):
        try:
            return reader(path)
        except LabError as error:
            problems.append(str(error))
            return empty

    config, metrics = read(read_config, {}), read(read_metrics, {})
    history = read(read_history, pd.DataFrame())
    shown = checkpoint_to_show(path)
    return RunInfo(
        name=path.name,
        path=path,
        config=config,
        metrics=metrics,
        epochs=len(history),
        modified=_modified(path),
        checkpoint=shown if shown.is_file() else None,
        damaged="; ".join(problems) or None,
    )


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """Every run folder (a folder, not a link, holding config.json or a checkpoint), newest
    first. A run with a damaged file is listed with ``damaged`` saying why."""
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    found = []
    for path in runs_dir.iterdir():
        if path.is_symlink() or not path.is_dir():
            continue
        if any((path / name).is_file() for name in (CONFIG, BEST, LAST)):
            found.append(inspect_run(path))
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
            shown = checkpoint_to_show(candidate)
            if shown.is_file():
                return shown
            raise LabError(f"run folder {candidate} holds no {BEST} or {LAST} yet")
    raise LabError(
        f"no checkpoint or run named {str(run_or_path)!r}: give a .pt/.pth file, a run folder, "
        "or a name listed by 'cifar-lab runs'"
    )
