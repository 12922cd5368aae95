"""The Class board's tables: each student's best run, then every run on the server, sortable
by any column (click its header)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.glossary import TERMS

# How each column of the board is headed, written and explained.
COLUMNS = {
    "student": st.column_config.TextColumn(
        "Student", help="The name given in the sidebar by whoever started the run"
    ),
    "runs": st.column_config.NumberColumn("Runs", help="Runs this student made", width="small"),
    "run": st.column_config.TextColumn("Run", help="The run folder (a sweep's runs: sweep/run)"),
    "preset": st.column_config.TextColumn("Preset", width="small"),
    "best_acc": st.column_config.NumberColumn(
        "Best accuracy",
        format="percent",
        help=f"{TERMS['val_acc']} At the best epoch (so far, for a run still training); the test "
        "accuracy for a run without a validation split.",
    ),
    "test_acc": st.column_config.NumberColumn(
        "Test accuracy", format="percent", help=TERMS["test_acc"]
    ),
    "seconds": st.column_config.NumberColumn(
        "Time (s)", format="%.0f", help="Wall-clock seconds the run trained"
    ),
    "epochs": st.column_config.NumberColumn("Epochs", width="small"),
    "changes": st.column_config.TextColumn(
        "Changed from the preset", help="The settings whose values differ from the preset's"
    ),
    "state": st.column_config.TextColumn("State", help="How the run ended, or unfinished"),
    "modified": st.column_config.DatetimeColumn(
        "Last change", format="YYYY-MM-DD HH:mm", help="When the run last wrote a file"
    ),
}


# The columns of the best runs' table: what made each student's best run, without the columns
# that would make it wider than the page.
BEST_SHOWN = ("student", "runs", "run", "best_acc", "test_acc", "seconds", "changes")


def counted(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def render(every: pd.DataFrame, best: pd.DataFrame, where: str) -> None:
    """Each student's best run, then every run (of the runs folder ``where``)."""
    students = counted(every["student"].nunique(), "student")
    st.caption(
        f"{counted(len(every), 'run')} by {students} in `{where}`. Click a column's header to "
        "sort by it; the board follows the runs as they train."
    )
    st.subheader("Each student's best run", anchor=False)
    if best.empty:
        st.caption("No run has a score yet: the first one comes with its first epoch.")
    else:
        shown = best[list(BEST_SHOWN)]
        st.dataframe(shown, hide_index=True, width="stretch", column_config=COLUMNS)
    st.subheader("Every run", anchor=False)
    st.dataframe(every, hide_index=True, width="stretch", column_config=COLUMNS)
