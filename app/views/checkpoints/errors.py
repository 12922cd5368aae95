"""The Errors tab: where one run goes wrong on the test split. Its confusion matrix and accuracy
per class, precision, recall and F1, the most-confused pairs, and the top losses with Grad-CAM,
all from the evaluation the run keeps."""

from __future__ import annotations

import streamlit as st

from app import cache, charts
from app.images import upscale
from app.run_choice import checkpoint_file
from app.state.checkpoints import VIEW
from app.views.checkpoints import (
    GALLERY_SIZE,
    chart,
    evaluation_of,
    gallery,
    gallery_picture,
    per_class_accuracy,
    picture,
    scored_dataset,
)
from lab.evaluate import Evaluation
from lab.lenses import insight
from lab.runs import RunInfo


def render(run: RunInfo) -> None:
    evaluation = evaluation_of(run)
    if evaluation is None:
        return
    normalized = st.toggle("Normalise rows (share of each true class)", **VIEW.widget("normalize"))
    left, right = st.columns(2)
    left.markdown(f"**Confusion matrix** · test accuracy {evaluation.accuracy:.2%}")
    chart(left, charts.confusion, evaluation.confusion(normalized), evaluation.classes, normalized)
    right.markdown("**Accuracy per class**")
    chart(right, charts.per_class_accuracy, per_class_accuracy({run.name: evaluation}))

    st.markdown(
        "**Precision, recall and F1 per class**",
        help="precision: of the images called this class, the share that are; recall: of the "
        "images of this class, the share found; F1: the two combined (their harmonic mean)",
    )
    scores = evaluation.per_class()
    left, right = st.columns(2)
    left.dataframe(
        scores.set_index("class"),
        width="stretch",
        column_config={
            name: st.column_config.NumberColumn(format="percent")
            for name in ("precision", "recall", "f1")
        },
    )
    chart(right, charts.per_class_scores, scores)

    st.markdown("**Most-confused pairs** (true → predicted)")
    confused = insight.most_confused(evaluation, top=10)
    if confused.empty:
        st.caption("No mistakes on the test split.")
    else:
        st.dataframe(
            confused,
            hide_index=True,
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )
    top_losses(run, evaluation)


def top_losses(run: RunInfo, evaluation: Evaluation) -> None:
    """The test images the model got most wrong, optionally with Grad-CAM over them."""
    st.markdown("**Top losses**: the test images the model got most wrong")
    losses = insight.top_losses(evaluation, k=GALLERY_SIZE)
    if losses.empty:
        st.caption("No mistakes on the test split.")
        return
    dataset = scored_dataset(evaluation)
    if dataset is None:
        return
    cam = st.toggle(
        "Grad-CAM overlay (what the prediction looked at)",
        help="Grad-CAM colours the regions of the image that pushed the network towards its "
        "answer most (red: most); a coarse map from the last convolution layer",
        **VIEW.widget("cam"),
    )
    indices = [int(i) for i in losses["index"]]
    if cam:
        checkpoint = checkpoint_file(run)
        with st.spinner("Computing Grad-CAM ..."):
            explanations = cache.explained(
                checkpoint,
                [picture(dataset, i) for i in indices],
                ("test", dataset.source, tuple(indices)),
            )
        pictures = [upscale(e.overlay) for e in explanations]
    else:
        pictures = [gallery_picture(dataset, i) for i in indices]
    gallery(
        pictures,
        [f"{row.true} → {row.predicted} ({row.confidence:.0%})" for row in losses.itertuples()],
    )
