"""The Class board page: every run of the runs folder by student and each student's best run,
as ``lab.board`` computes them, in sortable tables."""

from __future__ import annotations

from app_helpers import open_page, texts

from app import nav
from lab import board, runs


def tables(at) -> list:
    return [table.value for table in at.dataframe]


def test_the_board_shows_every_run_by_student_and_each_students_best(with_data, with_runs):
    runs.write_owner(with_runs / "tiny-a", "Ada")
    runs.write_owner(with_runs / "tiny-b", "Alan")
    at = open_page(nav.CLASS_BOARD)
    assert not at.exception, at.exception[0].message
    assert at.title[0].value == "Class board"
    best, every = tables(at)
    assert set(every["student"]) == {"Ada", "Alan"} and set(every["run"]) == {"tiny-a", "tiny-b"}
    expected = board.best_per_student(board.class_board(with_runs))
    assert list(best["student"]) == list(expected["student"])
    assert list(best["run"]) == list(expected["run"])
    # What each run changed from its preset is a column of its own, and so are the scores.
    assert {"changes", "best_acc", "test_acc", "seconds"} <= set(every.columns)
    assert "2 runs by 2 students" in texts(at)
    assert "runs" in best.columns and "changes" in best.columns


def test_a_board_without_runs_says_how_to_make_one(with_data, empty_runs):
    at = open_page(nav.CLASS_BOARD)
    assert not at.exception, at.exception[0].message
    assert f"No runs in `{empty_runs}` yet" in texts(at)
    assert not at.dataframe
