"""The class board: every run of a runs folder (a sweep's runs too) with the student who
started it, its best accuracy, its time and the settings it changed from its preset; and each
student's best run. What a teacher reads to see what the class tried and what worked.

It is read from the run folders alone (``config.json``, ``history.csv``, ``metrics.json`` and
``owner.json``), so it outlives the server that trained the runs.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lab import runs
from lab.config import RunConfig
from lab.errors import ConfigError, LabError
from lab.presets import PRESET_NAMES, preset_config
from lab.sweep import list_sweeps

# The student of a run that has no owner.json (the command line's, or an unnamed browser's).
NO_NAME = "(no name)"
# The state of a run that has not ended (or was killed before it could say how it ended).
UNFINISHED = "unfinished"
# One row per run: best_acc is the best validation accuracy (the test accuracy for a run without
# a validation split, as the notebook's), seconds its training time, changes its settings that
# differ from its preset ("epochs=5, lr=0.5").
COLUMNS = (
    "student",
    "run",
    "preset",
    "best_acc",
    "test_acc",
    "seconds",
    "epochs",
    "changes",
    "state",
    "modified",
)


def changed_settings(config: dict) -> dict[str, Any]:
    """The settings of a stored ``config.json`` whose values differ from its preset's (from the
    defaults' for a config made by hand), by key, in the order they are declared; {} for a
    config that is missing or invalid."""
    try:
        run = RunConfig.from_dict(config)
    except ConfigError:
        return {}
    known = run.preset in PRESET_NAMES
    base = preset_config(run.preset, run.data.source) if known else RunConfig()
    own, preset = run.settings(), base.settings()
    return {key: value for key, value in own.items() if value != preset[key]}


def describe_changes(changes: dict[str, Any]) -> str:
    """``{"epochs": 5, "lr": 0.5}`` -> ``"epochs=5, lr=0.5"``."""

    def text(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{key}={text(value)}" for key, value in changes.items())


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _column(history: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column of a history (empty when it has none)."""
    return pd.to_numeric(history.get(name, pd.Series(dtype=float)), errors="coerce")


def _student(folders: tuple[Path, ...]) -> str:
    """The name the first of ``folders`` with an owner file records (a sweep's runs take
    the sweep folder's); a damaged owner file counts as none."""
    for folder in folders:
        try:
            name = runs.read_owner(folder)
        except LabError:
            name = None
        if name:
            return name
    return NO_NAME


def _row(run: runs.RunInfo, name: str, student: str) -> dict:
    metrics = run.metrics
    best, test = metrics.get("best_val_acc"), metrics.get("test_acc")
    seconds = metrics.get("wall_s")
    if not metrics:  # not ended: its best epoch and its time so far
        try:
            history = runs.read_history(run.path)
        except LabError:
            history = pd.DataFrame()
        if not history.empty:
            best = _column(history, "val_acc").max()
            seconds = _column(history, "seconds").sum()
    return {
        "student": student,
        "run": name,
        "preset": run.config.get("preset") or "",
        "best_acc": _number(best if best is not None else test),
        "test_acc": _number(test),
        "seconds": _number(seconds),
        "epochs": run.epochs,
        "changes": describe_changes(changed_settings(run.config)) if run.config else "",
        "state": metrics.get("outcome") or UNFINISHED,
        "modified": datetime.fromtimestamp(run.modified),
    }


def class_board(runs_dir: Path) -> pd.DataFrame:
    """Every run of ``runs_dir`` and of its sweeps (named ``<sweep>/<run>``), newest first, in
    ``COLUMNS``; a run with a damaged file shows what can be read."""
    runs_dir = Path(runs_dir)
    rows = [_row(run, run.name, _student((run.path,))) for run in runs.list_runs(runs_dir)]
    for sweep_dir in list_sweeps(runs_dir):
        for run in runs.list_runs(sweep_dir):
            name = f"{sweep_dir.name}/{run.name}"
            rows.append(_row(run, name, _student((run.path, sweep_dir))))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("modified", ascending=False, kind="stable").reset_index(drop=True)


def best_per_student(frame: pd.DataFrame) -> pd.DataFrame:
    """Each student's best run of a ``class_board`` frame (the highest ``best_acc``, a tie
    broken by the test accuracy), best first, with ``runs``: how many runs the student made.
    A student with no scored run yet has no row."""
    counts = frame.groupby("student").size()
    scored = frame.dropna(subset=["best_acc"]).sort_values(
        ["best_acc", "test_acc"], ascending=False, na_position="last", kind="stable"
    )
    best = scored.drop_duplicates("student").reset_index(drop=True)
    best.insert(1, "runs", best["student"].map(counts))
    return best
