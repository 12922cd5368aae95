"""The Robustness tab: a sweep of one transform's parameter (rotation, brightness ...) over the
run's checkpoint, run only when asked for, with a progress bar."""

from __future__ import annotations

import streamlit as st

from app import charts
from app.cache import file_version, inference_model
from app.data import require_dataset
from app.run_choice import checkpoint_file
from app.state import checkpoints
from app.state.checkpoints import VIEW
from app.views.checkpoints import chart
from app.widgets import error_box, progress_bar
from lab.checkpoint import check_classes
from lab.errors import LabError
from lab.lenses.robustness import DEFAULT_SWEEPS, TRANSFORMS, identity_value, robustness_sweep
from lab.runs import RunInfo

# Test images per value of a robustness sweep (class-stratified): seconds, not minutes.
ROBUSTNESS_LIMIT = 500


def render(run: RunInfo) -> None:
    st.markdown("**Augmentation robustness**: how accuracy holds up under one transform")
    checkpoint = checkpoint_file(run)
    version = file_version(checkpoint)
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    transform = left.selectbox("Transform", list(TRANSFORMS), **VIEW.widget("robust_transform"))
    right.button(
        "Run the sweep",
        icon=":material/play_arrow:",
        on_click=checkpoints.request_robustness,
        args=(version, transform),
    )
    values = ", ".join(f"{v:g}" for v in DEFAULT_SWEEPS[transform])
    st.caption(
        f"{transform} at {values} ({TRANSFORMS[transform][0]}), on up to {ROBUSTNESS_LIMIT} "
        "test images, a stratified sample."
    )
    frame = checkpoints.robustness_result(version, transform)
    if frame is None:
        if not checkpoints.robustness_requested(version, transform):
            return
        dataset = require_dataset("run the robustness sweep")
        if dataset is None:
            return

        def describe(done: int, total: int) -> str:
            return f"{transform}: {done} of {total} values done"

        try:
            with progress_bar(
                f"Running {run.name} on transformed test images ...", describe
            ) as progress:
                loaded = inference_model(checkpoint)
                check_classes(loaded, dataset.classes)
                frame = robustness_sweep(
                    loaded,
                    dataset.test,
                    transform,
                    limit=min(ROBUSTNESS_LIMIT, len(dataset.test)),
                    progress=progress,
                )
        except LabError as error:
            error_box(st, error)
            return
        checkpoints.keep_robustness(version, transform, frame)
    chart(st, charts.robustness, frame, TRANSFORMS[transform][0], identity_value(transform))
    st.dataframe(
        frame.drop(columns="transform").rename(columns={"mean_confidence": "mean confidence"}),
        hide_index=True,
        column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "mean confidence": st.column_config.NumberColumn(format="percent"),
        },
    )
