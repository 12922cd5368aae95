"""The class board: every run of a runs folder by student, from hand-made run folders, and each
student's best run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from lab import board, runs
from lab.presets import preset_config
from lab.sweep import SWEEP_FILE


def epoch_row(epoch: int, val_acc: float | None, seconds: float = 10.0) -> dict:
    return {
        "epoch": epoch,
        "train_loss": 1.0,
        "train_acc": 0.5,
        "val_loss": 1.0 if val_acc is not None else None,
        "val_acc": val_acc,
        "test_loss": None,
        "test_acc": None,
        "lr": 0.1,
        "seconds": seconds,
        "images_per_s": 100.0,
    }


def make_run(
    runs_dir: Path,
    name: str,
    *,
    student: str | None,
    preset: str = "cpu-1min",
    changed: dict | None = None,
    val_accs: tuple = (0.5, 0.6),
    metrics: dict | None = None,
) -> Path:
    """A run folder as the lab leaves it: config.json of ``preset`` with the settings
    ``changed``, one history row per value of ``val_accs``, metrics.json when the run has
    ended, owner.json when a student started it."""
    run_dir = runs.create_run_dir(runs_dir, name)
    config = preset_config(preset, "cifar10").with_settings(changed or {})
    runs.write_config(run_dir, config)
    runs.write_history(run_dir, [epoch_row(i + 1, acc) for i, acc in enumerate(val_accs)])
    if metrics is not None:
        runs.write_metrics(run_dir, metrics)
    if student is not None:
        runs.write_owner(run_dir, student)
    return run_dir


def ended(best_val_acc: float | None, test_acc: float | None, wall_s: float = 55.0) -> dict:
    return {
        "preset": "cpu-1min",
        "best_val_acc": best_val_acc,
        "test_acc": test_acc,
        "wall_s": wall_s,
        "outcome": "finished",
    }


def rows(frame: pd.DataFrame) -> dict[str, dict]:
    return {row["run"]: row for row in frame.to_dict("records")}


def test_every_run_is_a_row_with_its_student_score_time_and_what_it_changed(tmp_path):
    make_run(tmp_path, "ada-1", student="Ada", metrics=ended(0.62, 0.60))
    make_run(
        tmp_path,
        "ada-2",
        student="Ada",
        changed={"lr": 0.5, "epochs": 5},
        metrics=ended(0.66, 0.64, wall_s=90.5),
    )
    make_run(tmp_path, "alan-1", student="Alan", changed={"width": 0.25}, metrics=ended(0.7, 0.69))

    frame = board.class_board(tmp_path)

    assert list(frame.columns) == list(board.COLUMNS)
    found = rows(frame)
    assert set(found) == {"ada-1", "ada-2", "alan-1"}
    assert found["ada-2"]["student"] == "Ada" and found["alan-1"]["student"] == "Alan"
    assert (found["ada-2"]["best_acc"], found["ada-2"]["test_acc"]) == (0.66, 0.64)
    assert found["ada-2"]["seconds"] == 90.5 and found["ada-2"]["epochs"] == 2
    assert found["ada-2"]["preset"] == "cpu-1min" and found["ada-2"]["state"] == "finished"
    # The settings that differ from the preset, in the order they are declared.
    assert found["ada-2"]["changes"] == "epochs=5, lr=0.5"
    assert found["alan-1"]["changes"] == "width=0.25"
    assert found["ada-1"]["changes"] == ""


def test_a_run_in_progress_shows_its_best_epoch_so_far_and_its_time(tmp_path):
    make_run(tmp_path, "going", student="Ada", val_accs=(0.4, 0.55, 0.5))
    (row,) = board.class_board(tmp_path).to_dict("records")
    assert row["best_acc"] == 0.55 and math.isnan(row["test_acc"])
    assert row["seconds"] == 30.0 and row["epochs"] == 3
    assert row["state"] == board.UNFINISHED


def test_a_run_without_a_validation_split_is_scored_by_its_test_accuracy(tmp_path):
    metrics = {**ended(None, 0.81), "preset": "notebook"}
    make_run(tmp_path, "nb", student="Ada", preset="notebook", val_accs=(None,), metrics=metrics)
    (row,) = board.class_board(tmp_path).to_dict("records")
    assert row["best_acc"] == row["test_acc"] == 0.81


def test_runs_of_the_command_line_and_damaged_runs_are_listed_too(tmp_path):
    make_run(tmp_path, "cli", student=None, metrics=ended(0.5, 0.5))
    damaged = make_run(tmp_path, "damaged", student="Ada", changed={"lr": 0.5})
    (damaged / runs.CONFIG).write_text("{not json")
    (damaged / runs.OWNER).write_text('{"name": 7}')
    found = rows(board.class_board(tmp_path))
    assert found["cli"]["student"] == board.NO_NAME
    assert found["damaged"]["student"] == board.NO_NAME
    assert found["damaged"]["changes"] == "" and found["damaged"]["preset"] == ""


def test_a_sweeps_runs_are_listed_under_the_student_who_started_the_sweep(tmp_path):
    sweep_dir = runs.create_run_dir(tmp_path, "sweep-lr")
    (sweep_dir / SWEEP_FILE).write_text(json.dumps({"runs": []}))
    runs.write_owner(sweep_dir, "Grace")
    make_run(sweep_dir, "lr0.5", student=None, changed={"lr": 0.5}, metrics=ended(0.6, 0.6))
    (row,) = board.class_board(tmp_path).to_dict("records")
    assert (row["run"], row["student"], row["changes"]) == ("sweep-lr/lr0.5", "Grace", "lr=0.5")


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_runs_folder_without_runs_gives_an_empty_board(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    frame = board.class_board(tmp_path / folder)
    assert frame.empty and list(frame.columns) == list(board.COLUMNS)
    assert board.best_per_student(frame).empty


def scored(entries: list[tuple[str, str, float | None, float | None]]) -> pd.DataFrame:
    """A board of (student, run, best_acc, test_acc) rows, the other columns left empty."""
    frame = pd.DataFrame(entries, columns=["student", "run", "best_acc", "test_acc"])
    return frame.reindex(columns=list(board.COLUMNS))


@pytest.mark.parametrize(
    ("entries", "best"),
    [
        # each student's highest best_acc
        (
            [("Ada", "a1", 0.6, 0.6), ("Ada", "a2", 0.7, 0.5), ("Alan", "b1", 0.65, 0.6)],
            [("Ada", "a2", 2), ("Alan", "b1", 1)],
        ),
        # a tie is broken by the test accuracy
        ([("Ada", "a1", 0.7, 0.6), ("Ada", "a2", 0.7, 0.65)], [("Ada", "a2", 2)]),
        # a run with no score yet counts among the runs but is never the best
        ([("Ada", "a1", None, None), ("Ada", "a2", 0.5, None)], [("Ada", "a2", 2)]),
        # a student with no scored run has no best run
        ([("Ada", "a1", None, None), ("Alan", "b1", 0.4, 0.4)], [("Alan", "b1", 1)]),
    ],
)
def test_best_per_student_keeps_each_students_best_run_best_first(entries, best):
    found = board.best_per_student(scored(entries))
    assert list(zip(found["student"], found["run"], found["runs"], strict=True)) == best
    assert list(found.columns) == ["student", "runs", *[c for c in board.COLUMNS if c != "student"]]
