"""The Sweeps tab: a sweep of learning rate × patience (``lab.sweep``) as a heatmap of the best
validation accuracy, the best combination outlined; a click on a cell (or the picker) shows that
combination's curves: the trained run's, cut where its patience would have stopped it."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, nav
from app.state import checkpoints
from app.state.checkpoints import VIEW
from app.views.checkpoints import chart
from app.widgets import error_box
from lab import runs
from lab.errors import LabError
from lab.sweep import describe, read_sweep, results_frame


def slice_label(batch_size: int, epochs: int) -> str:
    return f"batch size {batch_size}, {epochs} epochs"


def render(sweep_dirs: list[Path]) -> None:
    if not sweep_dirs:
        st.info(
            "No sweeps in this runs folder yet. A sweep trains a grid of learning rates and "
            "patience values in one go, for example "
            "`cifar-lab sweep --preset cpu-fast --lr 1e-3,2e-3,3e-3 --patience 2,5 "
            "--name lr-grid`, or from the Train page in its sweep mode; it appears here as a "
            "heatmap."
        )
        nav.link(nav.TRAIN, "Set up a sweep on the Train page: choose its sweep mode")
        return
    by_name = {folder.name: folder for folder in sweep_dirs}
    VIEW.ensure_choice("sweep", list(by_name))
    name = st.selectbox("Sweep", list(by_name), **VIEW.widget("sweep"))
    sweep_dir = by_name[name]
    try:
        sweep = read_sweep(sweep_dir)
    except LabError as error:
        error_box(st, error)
        return
    st.caption(f"{describe(sweep)}. State: {sweep['state']}.")
    results = results_frame(sweep).rename_axis("row").reset_index()
    if results.empty:
        st.info("No combination of this sweep has finished yet.")
        return
    slices = {
        slice_label(batch, epochs): (batch, epochs)
        for batch, epochs in results[["batch_size", "epochs"]]
        .drop_duplicates()
        .itertuples(index=False)
    }
    if len(slices) > 1:
        VIEW.ensure_choice("sweep_slice", list(slices))
        batch, epochs = slices[
            st.selectbox("Batch size and epochs", list(slices), **VIEW.widget("sweep_slice"))
        ]
        results = results[(results["batch_size"] == batch) & (results["epochs"] == epochs)]
    scored = results.dropna(subset=["best_val_acc"])
    best = int(scored.loc[scored["best_val_acc"].idxmax(), "row"]) if len(scored) else None

    key = VIEW.key("sweep_chart")
    chart(
        st,
        charts.sweep_heatmap,
        results,
        best,
        key=key,
        on_select=partial(checkpoints.picked_on_chart, key, "row", "sweep_pick"),
        selection_mode=charts.PICKED,
    )
    rows = results.set_index("row")
    options = [int(row) for row in rows.index]
    labels = {
        row: f"learning rate {rows.at[row, 'lr']:g}, patience {rows.at[row, 'patience']}"
        + (" (best)" if row == best else "")
        for row in options
    }
    VIEW.ensure_choice("sweep_pick", options, best)
    pick = st.selectbox(
        "Combination (or click a cell)",
        options,
        format_func=labels.get,
        **VIEW.widget("sweep_pick"),
    )
    curves(sweep_dir, rows.loc[pick])
    st.dataframe(
        results.drop(columns=["row", "run", "outcome", "batch_size", "epochs"]).assign(
            trained=results["trained"].map({True: "trained", False: "replayed"}),
            stop_epoch=[f"{stop:.0f}" if pd.notna(stop) else "–" for stop in results["stop_epoch"]],
        ),
        hide_index=True,
        column_config={
            "lr": st.column_config.NumberColumn("learning rate", format="%g"),
            "trained": st.column_config.TextColumn(
                "how", help="patience values below the largest are replayed from its history"
            ),
            "stop_epoch": st.column_config.TextColumn(
                "stopped early after", help="–: early stopping did not end the run"
            ),
            "best_epoch": "best epoch",
            "best_val_acc": st.column_config.NumberColumn(
                "best validation accuracy", format="percent"
            ),
            "test_acc": st.column_config.NumberColumn("test accuracy", format="percent"),
            "minutes": st.column_config.NumberColumn(format="%.1f"),
            "checkpoint": st.column_config.TextColumn(
                help="the weights this patience keeps, in the run's folder"
            ),
        },
    )


def curves(sweep_dir: Path, result: pd.Series) -> None:
    """The accuracy and loss per epoch of one combination, its best epoch marked."""
    history = runs.read_history(sweep_dir / result["run"])
    stop = result["stop_epoch"]
    if pd.notna(stop):
        history = history[history["epoch"] <= stop]
    if result["trained"]:
        how = f"trained with patience {result['patience']}"
    elif pd.isna(stop):
        how = f"replayed with patience {result['patience']}: it would not have stopped early"
    else:
        how = (
            f"replayed with patience {result['patience']} from the run trained with a larger "
            f"one: it would have stopped after epoch {int(stop)}"
        )
    st.markdown(f"**Learning rate {result['lr']:g}, patience {result['patience']}** ({how})")
    if history.empty:
        st.caption("This combination recorded no finished epoch.")
        return
    best = int(result["best_epoch"]) if pd.notna(result["best_epoch"]) else None
    left, right = st.columns(2)
    chart(left, charts.epoch_curves, history, "acc", best)
    chart(right, charts.epoch_curves, history, "loss", best)
