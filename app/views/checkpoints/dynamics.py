"""The Dynamics tab: how one run trained. The patience what-if (where early stopping with other
settings would have stopped) and the generalisation gap, both from the recorded history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts
from app.settings import control
from app.state import checkpoints
from app.state.checkpoints import VIEW
from app.views.checkpoints import METRICS, chart
from lab import runs
from lab.config import MONITORS, SETTINGS
from lab.errors import LabError
from lab.lenses import dynamics
from lab.runs import RunInfo


def render(run: RunInfo) -> None:
    if run.damaged:
        st.caption(f"This run is damaged ({run.damaged}): its history cannot be shown.")
        return
    history = runs.read_history(run.path)
    if history.empty:
        st.caption("This run recorded no finished epoch yet.")
        return
    train = run.config.get("train", {})
    monitor = train.get("monitor", "val_acc")
    if monitor not in history or history[monitor].isna().all():
        recorded = [m for m in MONITORS if m in history and history[m].notna().any()]
        if not recorded:
            st.caption("This run recorded no metric that early stopping can watch.")
            return
        monitor = recorded[0]

    st.markdown("**Patience what-if**: where would early stopping have stopped this run?")
    checkpoints.setup_what_if(run.name, train.get("patience", 5), train.get("min_delta", 0.0))
    left, right = st.columns(2)
    patience = control(left, SETTINGS["patience"], VIEW, field="whatif_patience")
    min_delta = control(right, SETTINGS["min_delta"], VIEW, field="whatif_min_delta")
    outcome = dynamics.patience_what_if(history, patience, min_delta, monitor)
    chart(
        st,
        charts.what_if,
        history,
        monitor,
        METRICS[monitor],
        outcome.stop_epoch,
        outcome.kept_epoch,
    )
    st.markdown(outcome.message)
    st.caption(
        f"Replays the recorded {METRICS[monitor]} of {outcome.epochs_recorded} epochs; beyond "
        "the record nothing is known, so a larger patience cannot show what later epochs "
        "would have found."
    )

    st.markdown("**Generalisation gap**: how much better the model does on its training images")
    try:
        gap = dynamics.generalisation_gap(history)
    except LabError as error:
        st.caption(str(error))
        return
    events = pd.DataFrame(
        [{"epoch": e.epoch, "kind": e.kind, "message": e.message} for e in gap.events],
        columns=["epoch", "kind", "message"],
    )
    held_out = "validation" if gap.split == "val" else "test"
    left, right = st.columns(2)
    chart(left, charts.gap, gap.frame, "acc_gap", f"training − {held_out} accuracy", events, True)
    chart(right, charts.gap, gap.frame, "loss_gap", f"{held_out} − training loss", events, False)
    st.caption(
        f"Above zero the model does better on the images it trained on than on the {held_out} "
        f"images; below zero the {held_out} images do better (common early on, while "
        "augmentation makes the training images harder). Both gaps grow when the model "
        "memorises its training images."
    )
    if gap.onset_epoch is None:
        st.caption("No onset of overfitting within the recorded epochs.")
    for event in gap.events:
        icon = ":material/trending_down:" if event.kind == "overfitting" else ":material/bolt:"
        st.info(event.message, icon=icon)
