"""The Overview tab: every run in a table, the curves of several runs overlaid, and the chosen
run's own curves with its best epoch marked."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app import charts
from app.cache import kept_evaluation
from app.run_choice import checkpoint_file
from app.state.checkpoints import VIEW
from app.views.checkpoints import METRICS, NOT_SCORED, chart, histories, runs_table
from lab import runs
from lab.evaluate import Evaluation
from lab.lenses.run_card import write_run_card
from lab.runs import RunInfo


def run_card_bytes(run_dir: Path, evaluation: Evaluation | None) -> bytes:
    """The run card zip of ``run_dir`` (``lab.lenses.run_card.write_run_card``) as bytes."""
    with tempfile.TemporaryDirectory(prefix="cifar-lab-card-") as folder:
        out = write_run_card(run_dir, Path(folder) / "card.zip", evaluation=evaluation)
        return out.read_bytes()


# The runs table's columns, what tells runs apart first, and their widths in pixels: the first
# nine fit the main area of a 1280 px window (about 820 px beside the sidebar), all of them a
# 1400 px one; in between, the last scroll into view.
TABLE_COLUMNS = {
    "run": 140,
    "status": 140,
    "best val acc": 90,
    "test acc": 70,
    "epochs": 60,
    "lr": 70,
    "batch": 55,
    "patience": 70,
    "model": 100,
    "preset": 75,
    "minutes": 65,
}


def runs_frame(found: list[RunInfo]) -> None:
    """Every run in one table, the columns that tell runs apart first."""
    widths = {name: st.column_config.Column(width=px) for name, px in TABLE_COLUMNS.items()}
    st.dataframe(
        runs_table(found),
        width="stretch",
        column_order=[name for name in TABLE_COLUMNS if name != "run"],
        column_config={
            **widths,
            "lr": st.column_config.NumberColumn(
                format="%.1e",
                width=TABLE_COLUMNS["lr"],
                help="learning rate: the size of the optimiser's steps",
            ),
            "batch": st.column_config.NumberColumn(
                width=TABLE_COLUMNS["batch"], help="images per optimiser step"
            ),
            "patience": st.column_config.NumberColumn(
                width=TABLE_COLUMNS["patience"],
                help="epochs without improvement before early stopping ends the run",
            ),
            "best val acc": st.column_config.NumberColumn(
                format="percent",
                width=TABLE_COLUMNS["best val acc"],
                help="accuracy on the held-out validation images at the best epoch",
            ),
            "test acc": st.column_config.TextColumn(
                width=TABLE_COLUMNS["test acc"],
                alignment="right",
                help="accuracy of the best checkpoint on the test images; "
                f"{NOT_SCORED} for a run stopped before it finished: such a run is scored on "
                "demand, in the Errors tab",
            ),
            "minutes": st.column_config.NumberColumn(
                format="%.1f", width=TABLE_COLUMNS["minutes"], help="the run's wall-clock time"
            ),
        },
    )


def render(found: list[RunInfo], run: RunInfo) -> None:
    runs_frame(found)

    st.subheader("Curves of several runs", anchor=False)
    names = [info.name for info in found]
    VIEW.ensure_choices("overlay", names, names[:3])
    left, right = st.columns([3, 1])
    overlay = left.multiselect("Runs to overlay", names, **VIEW.widget("overlay"))
    metric = right.selectbox(
        "Metric", list(METRICS), format_func=METRICS.get, **VIEW.widget("metric")
    )
    curves = histories(found, overlay)
    if curves[metric].notna().any():
        chart(st, charts.run_overlay, curves, metric, METRICS[metric])
    else:
        st.caption(f"None of the selected runs recorded {METRICS[metric]}.")

    st.subheader(f"{run.name}, epoch by epoch", anchor=False)
    history = None if run.damaged else runs.read_history(run.path)
    if history is None:
        st.caption(f"This run is damaged ({run.damaged}): its history cannot be shown.")
    elif history.empty:
        st.caption("This run recorded no finished epoch yet.")
    else:
        best = run.metrics.get("best_epoch")
        left, right = st.columns(2)
        chart(left, charts.epoch_curves, history, "acc", best)
        chart(right, charts.epoch_curves, history, "loss", best)
    kept = kept_evaluation(run.path, checkpoint_file(run))
    st.download_button(
        "Download run card (.zip)",
        lambda: run_card_bytes(run.path, kept),
        file_name=f"{run.name}-card.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        on_click="ignore",
        help="config, history, metrics, confusion matrix, the checkpoint and the versions used",
    )
