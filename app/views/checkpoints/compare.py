"""The Compare tab: two runs side by side. Accuracy per class and curves of both, where the
second does better or worse, the images on which they disagree, and their settings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts
from app.state.checkpoints import VIEW
from app.views.checkpoints import (
    GALLERY_SIZE,
    METRICS,
    chart,
    evaluation_of,
    gallery,
    gallery_picture,
    histories,
    per_class_accuracy,
    scored_dataset,
)
from app.widgets import class_choice, error_box
from lab.errors import LabError
from lab.evaluate import Evaluation
from lab.lenses import insight
from lab.runs import RunInfo

DIFFERS = "background-color: #fde2a0"


def spread_over_classes(rows: pd.DataFrame, count: int, column: str = "true") -> pd.DataFrame:
    """At most ``count`` of ``rows``, taken from each value of ``column`` in turn (the first of
    every class, then the second ...), so a gallery of the test split, which is stored class by
    class, shows every class rather than only the first."""
    turn = rows.groupby(column, sort=False).cumcount()
    return (
        rows.assign(_turn=turn)
        .sort_values("_turn", kind="stable")
        .head(count)
        .drop(columns="_turn")
    )


def config_rows(first: RunInfo, second: RunInfo) -> pd.DataFrame:
    """The two runs' settings side by side, indexed by setting, the differing ones first."""
    diff = insight.config_diff(first.config, second.config, only_differences=False)
    diff = diff.sort_values("differs", ascending=False, kind="stable")
    return diff.assign(a=diff["a"].map(str), b=diff["b"].map(str)).set_index("setting")


def render(found: list[RunInfo], default: str) -> None:
    by_name = {info.name: info for info in found}
    names = list(by_name)
    if len(names) < 2:
        st.info("Comparing needs two runs: train another one on the Train page.")
        return
    others = [name for name in names if name != default]
    VIEW.ensure_choice("compare_a", names, default)
    VIEW.ensure_choice("compare_b", names, others[0])
    left, right = st.columns(2)
    first = by_name[left.selectbox("First run (A)", names, **VIEW.widget("compare_a"))]
    second = by_name[right.selectbox("Second run (B)", names, **VIEW.widget("compare_b"))]
    if first is second:
        st.info("Pick two different runs to compare.")
        return
    a = evaluation_of(first)
    b = evaluation_of(second)
    if a is None or b is None:
        return
    evaluations = {first.name: a, second.name: b}
    st.markdown("**Accuracy per class**")
    chart(st, charts.per_class_accuracy, per_class_accuracy(evaluations))
    metric = VIEW["metric"]
    pair = histories(found, [first.name, second.name])
    if pair[metric].notna().any():
        st.markdown(f"**Curves** ({METRICS[metric]}; the metric is chosen on the Overview tab)")
        chart(st, charts.run_overlay, pair, metric, METRICS[metric])
    try:
        difference = insight.class_accuracy_difference(a, b)
        matrix = insight.confusion_difference(a, b)
    except LabError as error:
        error_box(st, error)
        return
    left, right = st.columns(2)
    left.markdown(f"**Per-class accuracy difference** ({second.name} − {first.name})")
    chart(left, charts.accuracy_difference, difference, first.name, second.name)
    right.markdown(
        "**Normalised confusion difference** (B − A; blue: more often with B, red: less)"
    )
    chart(right, charts.diverging_matrix, insight.matrix_frame(matrix, a.classes), a.classes)
    disagreements(a, b)
    st.markdown(
        f"**Settings** (A = {first.name}, B = {second.name}; the differing ones first, highlighted)"
    )
    rows = config_rows(first, second)
    st.dataframe(
        rows.style.apply(lambda row: [DIFFERS if row["differs"] else ""] * len(row), axis=1),
        width="stretch",
    )


def disagreements(a: Evaluation, b: Evaluation) -> None:
    """The test images on which A and B predict different classes, for one true class or all."""
    st.markdown("**Where they disagree**")
    chosen = class_choice(st, "True class", a.classes, VIEW, "disagree_class", "all classes")
    rows = insight.disagreements(a, b, class_name=chosen)
    st.caption(
        f"{len(rows)} test images on which the two predict different classes"
        + (
            f" (showing {GALLERY_SIZE}, taken from every class in turn)"
            if len(rows) > GALLERY_SIZE
            else ""
        )
    )
    if rows.empty:
        return
    dataset = scored_dataset(a)
    if dataset is None:
        return
    shown = spread_over_classes(rows, GALLERY_SIZE)
    gallery(
        [gallery_picture(dataset, i) for i in shown["index"]],
        [
            f"true {r.true} · A: {r.predicted_a} ({r.confidence_a:.0%}) · "
            f"B: {r.predicted_b} ({r.confidence_b:.0%})"
            for r in shown.itertuples()
        ],
    )
