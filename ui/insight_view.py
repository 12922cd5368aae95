"""The insight sections of the Checkpoints, Classify and Train pages: each function draws one
section from what the modules of ``lab.lenses`` compute (the heavy parts cached per checkpoint
version in ``ui.cache``)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from lab import runs
from lab.checkpoint import LoadedModel
from lab.config import INPUT_SIZES, MONITORS, AugmentConfig
from lab.data import Dataset, make_splits
from lab.errors import LabError
from lab.evaluate import Evaluation
from lab.lenses import insight
from lab.lenses.lr_finder import LrFinderResult, find_lr
from lab.lenses.robustness import DEFAULT_SWEEPS, TRANSFORMS, identity_value
from lab.lenses.run_card import write_run_card
from lab.runs import RunInfo
from ui import cache, charts, state
from ui.images import chw_to_hwc, upscale
from ui.training import build_run_config

# Images in a gallery (top losses, disagreements): enough to see a pattern, few enough to send.
GALLERY_SIZE = 16
# Test images per value of a robustness sweep (class-stratified): seconds, not minutes.
ROBUSTNESS_LIMIT = 500
# The learning-rate finder: steps of the range test and training images it cycles over.
LR_FINDER_STEPS = 60
LR_FINDER_IMAGES = 2000


def _test_picture(dataset: Dataset, index: int) -> Image.Image:
    return Image.fromarray(chw_to_hwc(dataset.test.images[int(index)]))


# --- Checkpoints page: one run's training -------------------------------------------------------


def training_dynamics(run: RunInfo) -> None:
    """The patience what-if and the generalisation gap of a run's recorded history."""
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
    state.setup_what_if(run.name, train.get("patience", 5), train.get("min_delta", 0.0))
    left, right = st.columns(2)
    patience = left.slider("Patience (epochs)", 0, 30, key=state.CKPT_WHATIF_PATIENCE)
    min_delta = right.number_input(
        "Min delta", 0.0, 1.0, step=0.001, format="%.4f", key=state.CKPT_WHATIF_MIN_DELTA
    )
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
    cam = st.toggle("Grad-CAM overlay (what the prediction looked at)", key=state.CKPT_CAM)
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
    transform = left.selectbox("Transform", list(TRANSFORMS), key=state.CKPT_ROBUST_TRANSFORM)
    limit = min(ROBUSTNESS_LIMIT, len(dataset.test))
    values = ", ".join(f"{v:g}" for v in DEFAULT_SWEEPS[transform])
    right.button(
        "Run the sweep",
        icon=":material/play_arrow:",
        on_click=state.request_robustness,
        args=(str(checkpoint), transform),
    )
    st.caption(f"{transform} at {values} ({TRANSFORMS[transform][0]}), on {limit} test images.")
    if not state.robustness_requested(str(checkpoint), transform):
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
    options = ["", *a.classes]
    state.ensure_choice(state.CKPT_DISAGREE_CLASS, options, "")
    chosen = st.selectbox(
        "True class",
        options,
        format_func=lambda c: c or "all classes",
        key=state.CKPT_DISAGREE_CLASS,
    )
    rows = insight.disagreements(a, b, class_name=chosen or None)
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


# --- Classify page ------------------------------------------------------------------------------


def image_key(image: Image.Image) -> str:
    """What identifies an image in the Grad-CAM cache: a hash of its pixels."""
    pixels = np.asarray(image.convert("RGB"))
    return hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()[:20]


def cam_target(loaded: LoadedModel) -> str | None:
    """The class Grad-CAM explains (None: the predicted one), chosen above the results."""
    options = ["", *loaded.classes]
    state.ensure_choice(state.CLS_CAM_TARGET, options, "")
    chosen = st.selectbox(
        "Grad-CAM explains",
        options,
        format_func=lambda c: c or "the predicted class",
        key=state.CLS_CAM_TARGET,
    )
    return chosen or None


def explain_prediction(
    checkpoint: Path,
    loaded: LoadedModel,
    image: Image.Image,
    probabilities: np.ndarray,
    target: str | None,
) -> None:
    """The unsure hint (when the model is unsure) and the Grad-CAM overlay of one image."""
    hint = insight.unsure_message(probabilities, loaded.classes)
    if hint:
        st.warning(hint, icon=":material/help:")
    try:
        (explanation,) = cache.explained(checkpoint, [image], ("upload", image_key(image)), target)
    except LabError as error:
        st.caption(f"No Grad-CAM: {error}")
        return
    overlay, note = st.columns([1, 3], vertical_alignment="center")
    overlay.image(
        upscale(explanation.overlay),
        caption=f"Grad-CAM for {explanation.target} ({explanation.target_probability:.1%})",
    )
    note.caption(
        "Red regions raised the score of the explained class the most; blue ones did not "
        "(Grad-CAM on the last convolutional layer, without test-time flip)."
    )


# --- Train page ---------------------------------------------------------------------------------


def anatomy(model: str, width: float, num_classes: int) -> None:
    """The layer table and totals of the chosen model at a chosen input size."""
    own = INPUT_SIZES[model]
    size = st.select_slider(
        "Input size (px)",
        (0, *state.RESIZE_CHOICES),
        format_func=lambda s: f"its own ({own})" if s == 0 else str(s),
        key=state.TRAIN_ANATOMY_SIZE,
    )
    result = cache.anatomy(
        model, width if model == "alexnet_cifar" else 1.0, size or own, num_classes
    )
    if result.problem:
        st.error(f"This input cannot work: {result.problem}", icon=":material/error:")
        return
    c = st.columns(3)
    c[0].metric("Parameters", f"{result.params:,}")
    c[1].metric("Weights", f"{result.weights_mb:.1f} MB")
    c[2].metric("FLOPs per image", f"{result.flops / 1e6:,.1f} M")
    st.dataframe(
        result.layers,
        hide_index=True,
        width="stretch",
        column_config={
            "params": st.column_config.NumberColumn(format="localized"),
            "flops": st.column_config.NumberColumn(format="localized"),
        },
    )


def lr_finder(
    values: dict,
    source: str,
    augment: AugmentConfig | None,
    dataset: Dataset,
    device: torch.device,
    disabled: bool,
) -> None:
    """The learning-rate range test for the run the controls describe, on a small subset, with
    a button that moves the Learning rate slider to its suggestion."""
    try:
        config = build_run_config(values, source, augment)
    except LabError as error:
        st.caption(f"Fix the settings first: {error}")
        return
    images = min(LR_FINDER_IMAGES, len(dataset.train))
    st.caption(
        f"Trains a fresh {config.model.name} for {LR_FINDER_STEPS} batches of "
        f"{config.train.batch_size} ({images} training images) while the learning rate grows "
        "from 1e-7 to 10, and plots the loss. Nothing is saved."
    )
    # The result depends on everything but the learning rate (the test sets its own).
    settings = config.to_dict()
    settings["train"].pop("lr", None)
    for_what = (repr(settings), images)
    if st.button("Find a learning rate", icon=":material/search:", disabled=disabled):
        progress = st.progress(0.0, text="Range test ...")

        def on_step(step: int, steps: int, lr: float, loss: float) -> None:
            progress.progress(
                step / steps, text=f"step {step}/{steps}: lr {lr:.1e}, loss {loss:.3f}"
            )

        try:
            small = config.with_overrides(data={"subset": images})
            splits = make_splits(dataset, small.data)
            result = find_lr(small, splits, steps=LR_FINDER_STEPS, device=device, on_step=on_step)
        except LabError as error:
            st.error(str(error))
            return
        finally:
            progress.empty()
        state.set_lr_finder_result(for_what, result)
    result: LrFinderResult | None = state.lr_finder_result(for_what)
    if result is None:
        return
    st.altair_chart(charts.lr_finder(result.frame(), result.suggested_lr), width="stretch")
    st.caption(result.reason)
    if result.suggested_lr is None:
        st.caption("Too few steps to suggest a rate.")
        return
    st.markdown(f"Suggested learning rate: **{result.suggested_lr:.2e}**")
    st.button(
        "Use this learning rate",
        on_click=state.use_learning_rate,
        args=(result.suggested_lr,),
        disabled=disabled,
    )
