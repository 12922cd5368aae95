"""The Calibration tab: does a 90 % confident answer of the run come true 90 % of the time?"""

from __future__ import annotations

import streamlit as st

from app import charts
from app.views.checkpoints import chart, evaluation_of
from lab.lenses import insight
from lab.runs import RunInfo


def render(run: RunInfo) -> None:
    evaluation = evaluation_of(run)
    if evaluation is None:
        return
    calibration = insight.calibration(evaluation)
    st.markdown(
        "**Calibration**: the test images grouped by how confident the model was in its "
        "answer, and how often the answers of each group were right"
    )
    left, right = st.columns([3, 1])
    chart(left, charts.reliability, calibration.bins)
    right.metric(
        "Calibration error (ECE)",
        f"{calibration.ece:.4f}",
        help="expected calibration error: the gap between confidence and the share answered "
        "right, averaged over the groups weighted by their images; 0 when the confidence can "
        "be taken at its word",
    )
    right.metric(
        "Largest group gap",
        f"{calibration.max_gap:.4f}",
        help="the largest gap between confidence and the share right in any one group",
    )
    right.caption(
        "Bars below the dashed diagonal: the model is more confident than it is right "
        "(over-confident); above it, under-confident. Red dots: each group's mean confidence."
    )
