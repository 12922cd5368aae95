"""The Checkpoints page's lenses on a run: training dynamics, error analysis, the run card,
robustness and the comparison of two runs. Each function draws one section from what the
modules of ``lab.lenses`` compute (the heavy parts cached per checkpoint version in
``app.cache``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

from app import cache, charts
from app.images import chw_to_hwc, upscale
from app.settings import control
from app.state import checkpoints
from app.state.checkpoints import VIEW
from app.widgets import class_choice
from lab import runs
from lab.config import MONITORS, SETTINGS
from lab.data import Dataset
from lab.errors import LabError
from lab.evaluate import Evaluation
from lab.lenses import insight
from lab.lenses.robustness import DEFAULT_SWEEPS, TRANSFORMS, identity_value
from lab.lenses.run_card import write_run_card
from lab.runs import RunInfo

# Images in a gallery (top losses, disagreements): enough to see a pattern, few enough to send.
GALLERY_SIZE = 16
# Test images per value of a robustness sweep (class-stratified): seconds, not minutes.
ROBUSTNESS_LIMIT = 500


def _test_picture(dataset: Dataset, index: int) -> Image.Image:
    return Image.fromarray(chw_to_hwc(dataset.test.images[int(index)]))


# --- Checkpoints page: one run's training -------------------------------------------------------


def training_dynamics(run: RunInfo) -> None:
    """The patience what-if and the generalisation gap of a run's recorded history."""
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
    outcome = insight.patience_what_if(history, patience, min_delta, monitor)
    st.altair_chart(
        charts.what_if(history, monitor, outcome.stop_epoch, outcome.kept_epoch), width="stretch"
    )
    st.markdown(outcome.message)
    st.caption(
        f"Replays the recorded {monitor} of {outcome.epochs_recorded} epochs; beyond the record "
        "nothing is known, so a larger patience cannot show what later epochs would have found."
    )

    st.markdown("**Generalisation gap**: how much better the model does on its training images")
    try:
        gap = insight.generalisation_gap(history)
    except LabError as error:
        st.caption(str(error))
        return
    events = pd.DataFrame(
        [{"epoch": e.epoch, "kind": e.kind, "message": e.message} for e in gap.events],
        columns=["epoch", "kind", "message"],
    )
    st.altair_chart(charts.generalisation_gap(gap.frame, events), width="stretch")
    held_out = "validation" if gap.split == "val" else "test"
    st.caption(
        f"acc_gap = training minus {held_out} accuracy; loss_gap = {held_out} minus training "
        "loss. Both grow when the model memorises its training images."
    )
    if gap.onset_epoch is None:
        st.caption("No onset of overfitting within the recorded epochs.")
    for event in gap.events:
        icon = ":material/trending_down:" if event.kind == "overfitting" else ":material/bolt:"
        st.info(event.message, icon=icon)


# --- Checkpoints page: one evaluated checkpoint -------------------------------------------------


def error_analysis(checkpoint: Path, source: str, evaluation: Evaluation, dataset: Dataset) -> None:
    """Per-class scores, calibration, most-confused pairs and the top-loss gallery."""
    calibration, confused, losses, scores = cache.error_analysis(checkpoint, source, evaluation)

    st.markdown("**Precision, recall and F1 per class**")
    left, right = st.columns([2, 3])
    left.dataframe(
        scores.set_index("class"),
        column_config={
            name: st.column_config.NumberColumn(format="percent")
            for name in ("precision", "recall", "f1")
        },
    )
    right.altair_chart(charts.per_class_scores(scores), width="stretch")

    st.markdown("**Calibration**: does a 90 % confident answer come true 90 % of the time?")
    left, right = st.columns([3, 1])
    left.altair_chart(charts.reliability(calibration.bins), width="stretch")
    right.metric("Expected calibration error (ECE)", f"{calibration.ece:.4f}")
    right.metric("Largest bin gap", f"{calibration.max_gap:.4f}")
    right.caption(
        "Bars below the diagonal: the model is more confident than it is right (over-confident)."
    )

    st.markdown("**Most-confused pairs** (true → predicted)")
    if confused.empty:
        st.caption("No mistakes on the test split.")
    else:
        st.dataframe(
            confused,
            hide_index=True,
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )

    st.markdown("**Top losses**: the test images the model got most wrong")
    if losses.empty:
        st.caption("No mistakes on the test split.")
        return
    cam = st.toggle("Grad-CAM overlay (what the prediction looked at)", **VIEW.widget("cam"))
    indices = [int(i) for i in losses["index"]]
    if cam:
        with st.spinner("Computing Grad-CAM ..."):
            explanations = cache.explained(
                checkpoint,
                [_test_picture(dataset, i) for i in indices],
                ("test", source, tuple(indices)),
            )
        pictures = [upscale(e.overlay) for e in explanations]
    else:
        pictures = [upscale(chw_to_hwc(dataset.test.images[i])) for i in indices]
    captions = [
        f"{row.true} → {row.predicted} ({row.confidence:.0%})" for row in losses.itertuples()
    ]
    st.image(pictures, caption=captions)


def run_card_bytes(run_dir: Path, evaluation: Evaluation) -> bytes:
    """The run card zip of ``run_dir`` (``lab.lenses.run_card.write_run_card``) as bytes."""
    with tempfile.TemporaryDirectory(prefix="cifar-lab-card-") as folder:
        out = write_run_card(run_dir, Path(folder) / "card.zip", evaluation=evaluation)
        return out.read_bytes()


def run_card(run: RunInfo, evaluation: Evaluation) -> None:
    """A download button for the run card; the zip is written only when it is clicked."""
    st.download_button(
        "Download run card (.zip)",
        lambda: run_card_bytes(run.path, evaluation),
        file_name=f"{run.name}-card.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        on_click="ignore",
        help="config, history, metrics, confusion matrix, the checkpoint and the versions used",
    )


def robustness(checkpoint: Path, source: str, dataset: Dataset) -> None:
    """A sweep of one transform's parameter: accuracy and confidence on transformed test images."""
    st.markdown("**Augmentation robustness**: how accuracy holds up under one transform")
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    transform = left.selectbox("Transform", list(TRANSFORMS), **VIEW.widget("robust_transform"))
    limit = min(ROBUSTNESS_LIMIT, len(dataset.test))
    values = ", ".join(f"{v:g}" for v in DEFAULT_SWEEPS[transform])
    right.button(
        "Run the sweep",
        icon=":material/play_arrow:",
        on_click=checkpoints.request_robustness,
        args=(str(checkpoint), transform),
    )
    st.caption(f"{transform} at {values} ({TRANSFORMS[transform][0]}), on {limit} test images.")
    if not checkpoints.robustness_requested(str(checkpoint), transform):
        return
    try:
        with st.spinner(f"Running the checkpoint on {limit} images per {transform} value ..."):
            frame = cache.robustness(checkpoint, source, dataset, transform, limit)
    except LabError as error:
        st.error(str(error))
        return
    st.altair_chart(
        charts.robustness(frame, TRANSFORMS[transform][0], identity_value(transform)),
        width="stretch",
    )
    st.dataframe(
        frame.drop(columns="transform"),
        hide_index=True,
        column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "mean_confidence": st.column_config.NumberColumn(format="percent"),
        },
    )


# --- Checkpoints page: two checkpoints ----------------------------------------------------------


def compare(
    first: RunInfo, second: RunInfo, a: Evaluation, b: Evaluation, dataset: Dataset
) -> None:
    """Per-class accuracy difference, confusion difference, disagreements and config diff."""
    try:
        difference = insight.class_accuracy_difference(a, b)
        matrix = insight.confusion_difference(a, b)
    except LabError as error:
        st.error(str(error))
        return
    left, right = st.columns(2)
    left.markdown(f"**Per-class accuracy difference** ({second.name} − {first.name})")
    left.altair_chart(
        charts.accuracy_difference(difference, first.name, second.name), width="stretch"
    )
    right.markdown("**Normalised confusion difference** (blue: more often with the second)")
    right.altair_chart(
        charts.diverging_matrix(insight.matrix_frame(matrix, a.classes), a.classes),
        width="stretch",
    )

    st.markdown("**Where they disagree**")
    chosen = class_choice(st, "True class", a.classes, VIEW, "disagree_class", "all classes")
    rows = insight.disagreements(a, b, class_name=chosen)
    st.caption(
        f"{len(rows)} test images on which the two predict different classes"
        + (f" (showing {GALLERY_SIZE})" if len(rows) > GALLERY_SIZE else "")
    )
    shown = rows.head(GALLERY_SIZE)
    if not shown.empty:
        st.image(
            [upscale(chw_to_hwc(dataset.test.images[int(i)])) for i in shown["index"]],
            caption=[
                f"true {r.true} · A: {r.predicted_a} ({r.confidence_a:.0%}) · "
                f"B: {r.predicted_b} ({r.confidence_b:.0%})"
                for r in shown.itertuples()
            ],
        )

    st.markdown(
        f"**Configs** (A = {first.name}, B = {second.name}; differing settings highlighted)"
    )
    diff = insight.config_diff(first.config, second.config, only_differences=False)
    shown_diff = diff.assign(a=diff["a"].map(str), b=diff["b"].map(str)).set_index("setting")
    st.dataframe(
        shown_diff.style.apply(
            lambda row: ["background-color: #fde2a0" if row["differs"] else ""] * len(row),
            axis=1,
        ),
        width="stretch",
    )
