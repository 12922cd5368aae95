"""Altair chart builders: plain functions from data frames (or lists) to charts."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from lab.jobs import BatchLoss

CHANNEL_COLOURS = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
SPLIT_COLOURS = {"train": "#4c78a8", "val": "#f58518", "test": "#54a24b"}
# Class names on a category axis: slanted, and every one shown (Vega hides overlapping labels).
CLASS_AXIS = alt.Axis(labelAngle=-45, labelOverlap=False)
# A live chart redrawn every second or two stays light with at most this many points.
MAX_BATCH_POINTS = 1500


def class_counts(frame: pd.DataFrame) -> alt.Chart:
    """Grouped bars: images per class, one bar per split."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=None, title=None, axis=CLASS_AXIS),
            xOffset="split:N",
            y=alt.Y("images:Q", title="images"),
            color=alt.Color(
                "split:N",
                scale=alt.Scale(domain=["train", "test"], range=["#4c78a8", "#54a24b"]),
            ),
            tooltip=["class", "split", "images"],
        )
        .properties(height=260)
    )


def pixel_histograms(frame: pd.DataFrame) -> alt.Chart:
    """Share of pixels at each value, one line per colour channel."""
    return (
        alt.Chart(frame)
        .mark_line(strokeWidth=1.5)
        .encode(
            x=alt.X("value:Q", title="pixel value", scale=alt.Scale(domain=[0, 255])),
            y=alt.Y("share:Q", title="share of pixels", axis=alt.Axis(format="%")),
            color=alt.Color(
                "channel:N",
                scale=alt.Scale(domain=list(CHANNEL_COLOURS), range=list(CHANNEL_COLOURS.values())),
            ),
            tooltip=["channel", "value", alt.Tooltip("share:Q", format=".3%")],
        )
        .properties(height=240)
    )


def epoch_curves(history: pd.DataFrame, kind: str, best_epoch: int | None) -> alt.LayerChart:
    """Train, validation (and test) ``kind`` ("loss" or "acc") per epoch; best epoch marked."""
    columns = [f"{split}_{kind}" for split in SPLIT_COLOURS if f"{split}_{kind}" in history]
    long = history.melt(id_vars="epoch", value_vars=columns, var_name="split", value_name=kind)
    long = long.dropna(subset=[kind])
    long["split"] = long["split"].str.removesuffix(f"_{kind}")
    title = "accuracy" if kind == "acc" else "loss"
    y_axis = alt.Axis(format="%") if kind == "acc" else alt.Axis()
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1), title="epoch"),
            y=alt.Y(f"{kind}:Q", title=title, axis=y_axis, scale=alt.Scale(zero=False)),
            color=alt.Color(
                "split:N",
                scale=alt.Scale(domain=list(SPLIT_COLOURS), range=list(SPLIT_COLOURS.values())),
            ),
            tooltip=["epoch", "split", alt.Tooltip(f"{kind}:Q", format=".4f")],
        )
    )
    layers = [lines]
    if best_epoch:
        best = pd.DataFrame({"epoch": [best_epoch], "label": [f"best: epoch {best_epoch}"]})
        rule = alt.Chart(best).mark_rule(strokeDash=[4, 3], color="#888").encode(x="epoch:Q")
        text = (
            alt.Chart(best)
            .mark_text(align="left", dx=4, dy=-6, color="#666")
            .encode(x="epoch:Q", y=alt.value(8), text="label:N")
        )
        layers += [rule, text]
    return alt.layer(*layers).properties(height=260, title=f"{title} per epoch")


def batch_losses(points: Sequence[BatchLoss]) -> alt.LayerChart:
    """Every optimiser step's loss (faint) and its exponential moving average."""
    stride = max(1, int(np.ceil(len(points) / MAX_BATCH_POINTS)))
    frame = pd.DataFrame(
        {
            "step": [p.step for p in points[::stride]],
            "epoch": [p.epoch for p in points[::stride]],
            "loss": [p.loss for p in points[::stride]],
            "smoothed": [p.smoothed for p in points[::stride]],
        }
    )
    base = alt.Chart(frame).encode(x=alt.X("step:Q", title="batch"))
    raw = base.mark_line(opacity=0.25, color="#4c78a8").encode(y=alt.Y("loss:Q", title="loss"))
    smooth = base.mark_line(color="#4c78a8", strokeWidth=2).encode(
        y="smoothed:Q",
        tooltip=["step", "epoch", alt.Tooltip("loss:Q", format=".4f"), "smoothed"],
    )
    return alt.layer(raw, smooth).properties(height=220, title="training loss per batch (smoothed)")


def run_overlay(frame: pd.DataFrame, metric: str) -> alt.Chart:
    """One line per run of ``metric`` per epoch; ``frame`` has run, epoch and the metric."""
    axis = alt.Axis(format="%") if metric.endswith("_acc") else alt.Axis()
    return (
        alt.Chart(frame.dropna(subset=[metric]))
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{metric}:Q", axis=axis, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", legend=alt.Legend(orient="bottom", columns=2)),
            tooltip=["run", "epoch", alt.Tooltip(f"{metric}:Q", format=".4f")],
        )
        .properties(height=300)
    )


def confusion(matrix: np.ndarray, classes: Sequence[str], normalized: bool) -> alt.LayerChart:
    """Heat map of true (rows) against predicted (columns) classes, with the values written."""
    rows, cols = np.indices(matrix.shape)
    frame = pd.DataFrame(
        {
            "true": [classes[i] for i in rows.ravel()],
            "predicted": [classes[j] for j in cols.ravel()],
            "value": matrix.ravel().astype(float),
        }
    )
    value_format = ".0%" if normalized else ".0f"
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", sort=list(classes), axis=CLASS_AXIS),
        y=alt.Y("true:N", sort=list(classes), axis=alt.Axis(labelOverlap=False)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["true", "predicted", alt.Tooltip("value:Q", format=value_format)],
    )
    threshold = float(matrix.max()) / 2 if matrix.size else 0.0
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=value_format),
        color=alt.condition(alt.datum.value > threshold, alt.value("white"), alt.value("black")),
    )
    return alt.layer(cells, text).properties(height=380)


def per_class_accuracy(frame: pd.DataFrame) -> alt.Chart:
    """Bars of accuracy per class; side by side per run when ``frame`` has several runs."""
    encodings = {
        "x": alt.X("class:N", sort=None, title=None, axis=CLASS_AXIS),
        "y": alt.Y("accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        "color": alt.value("#4c78a8"),
        "tooltip": ["run", "class", alt.Tooltip("accuracy:Q", format=".1%")],
    }
    if frame["run"].nunique() > 1:
        encodings["xOffset"] = "run:N"
        encodings["color"] = alt.Color("run:N", legend=alt.Legend(orient="bottom"))
    return alt.Chart(frame).mark_bar().encode(**encodings).properties(height=260)


def top_k(labels: Sequence[str], probabilities: Sequence[float]) -> alt.Chart:
    """Horizontal probability bars, most likely class on top."""
    frame = pd.DataFrame({"class": list(labels), "probability": list(probabilities)})
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("class:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.condition(
                alt.datum.probability == max(probabilities, default=0),
                alt.value("#4c78a8"),
                alt.value("#9ecae9"),
            ),
            tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
        )
        .properties(height=34 * len(frame) + 20)
    )


# --- insight --------------------------------------------------------------------------------------


def reliability(bins: pd.DataFrame) -> alt.LayerChart:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect
    calibration; bars below the diagonal are over-confident bins."""
    frame = bins.dropna(subset=["accuracy"]).assign(middle=lambda f: (f.lower + f.upper) / 2)
    bars = (
        alt.Chart(frame)
        .mark_bar(opacity=0.8, color="#4c78a8")
        .encode(
            x=alt.X(
                "lower:Q", title="confidence (top probability)", scale=alt.Scale(domain=[0, 1])
            ),
            x2="upper:Q",
            y=alt.Y("accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            tooltip=[
                alt.Tooltip("lower:Q", format=".1f"),
                alt.Tooltip("upper:Q", format=".1f"),
                "count",
                alt.Tooltip("confidence:Q", format=".1%"),
                alt.Tooltip("accuracy:Q", format=".1%"),
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 3], color="#888")
        .encode(x="x:Q", y="y:Q")
    )
    points = (
        alt.Chart(frame)
        .mark_point(color="#e45756", filled=True)
        .encode(x="confidence:Q", y="accuracy:Q", tooltip=["count"])
    )
    return alt.layer(bars, diagonal, points).properties(height=280)


def per_class_scores(table: pd.DataFrame) -> alt.Chart:
    """Precision, recall and F1 per class, side by side."""
    long = table.melt(id_vars="class", value_vars=["precision", "recall", "f1"], var_name="score")
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=None, title=None, axis=CLASS_AXIS),
            xOffset=alt.XOffset("score:N", sort=["precision", "recall", "f1"]),
            y=alt.Y("value:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("score:N", sort=["precision", "recall", "f1"]),
            tooltip=["class", "score", alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(height=260)
    )


def accuracy_difference(frame: pd.DataFrame, first: str, second: str) -> alt.Chart:
    """Per-class accuracy of ``second`` minus ``first``: green where the second is better."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=None, title=None, axis=CLASS_AXIS),
            y=alt.Y("difference:Q", axis=alt.Axis(format="+%"), title=f"{second} − {first}"),
            color=alt.condition(
                alt.datum.difference >= 0, alt.value("#54a24b"), alt.value("#e45756")
            ),
            tooltip=[
                "class",
                alt.Tooltip("accuracy_a:Q", format=".1%", title=first),
                alt.Tooltip("accuracy_b:Q", format=".1%", title=second),
                alt.Tooltip("difference:Q", format="+.1%"),
            ],
        )
        .properties(height=240)
    )


def diverging_matrix(frame: pd.DataFrame, classes: Sequence[str]) -> alt.LayerChart:
    """Heat map of a class matrix with signed values (``true``, ``predicted``, ``value``):
    red below zero, blue above, white at zero."""
    limit = max(float(frame["value"].abs().max()), 1e-9)
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", sort=list(classes), axis=CLASS_AXIS),
        y=alt.Y("true:N", sort=list(classes), axis=alt.Axis(labelOverlap=False)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q",
            scale=alt.Scale(scheme="redblue", domain=[-limit, limit], domainMid=0),
            title="difference",
        ),
        tooltip=["true", "predicted", alt.Tooltip("value:Q", format="+.1%")],
    )
    text = base.mark_text(fontSize=10).encode(text=alt.Text("value:Q", format="+.0%"))
    return alt.layer(cells, text).properties(height=380)


def what_if(
    history: pd.DataFrame, monitor: str, stop: int | None, kept: int | None
) -> alt.LayerChart:
    """The monitored metric per epoch, with where early stopping would stop and what it keeps."""
    frame = history[["epoch", monitor]].dropna()
    line = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{monitor}:Q", scale=alt.Scale(zero=False)),
            tooltip=["epoch", alt.Tooltip(f"{monitor}:Q", format=".4f")],
        )
    )
    marks = [
        {"epoch": epoch, "label": label, "colour": colour}
        for epoch, label, colour in (
            (stop, f"would stop after {stop}", "#e45756"),
            (kept, f"kept: epoch {kept}", "#54a24b"),
        )
        if epoch is not None
    ]
    layers = [line]
    if marks:
        rules = alt.Chart(pd.DataFrame(marks)).encode(x="epoch:Q")
        layers += [
            rules.mark_rule(strokeDash=[4, 3], strokeWidth=2).encode(
                color=alt.Color("colour:N", scale=None)
            ),
            rules.mark_text(align="left", dx=4, dy=-6).encode(
                y=alt.value(10), text="label:N", color=alt.Color("colour:N", scale=None)
            ),
        ]
    return alt.layer(*layers).properties(height=240)


def generalisation_gap(frame: pd.DataFrame, events: pd.DataFrame) -> alt.LayerChart:
    """Accuracy gap and loss gap per epoch; marked epochs (overfitting onset, spikes) as rules."""
    long = frame.melt(id_vars="epoch", value_vars=["acc_gap", "loss_gap"], var_name="gap")
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title="train better by"),
            color=alt.Color(
                "gap:N",
                scale=alt.Scale(domain=["acc_gap", "loss_gap"], range=["#4c78a8", "#f58518"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["epoch", "gap", alt.Tooltip("value:Q", format=".4f")],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#bbb").encode(y="y:Q")
    layers = [lines, zero]
    if not events.empty:
        layers.append(
            alt.Chart(events)
            .mark_rule(strokeDash=[4, 3], color="#e45756")
            .encode(x="epoch:Q", tooltip=["epoch", "kind", "message"])
        )
    return alt.layer(*layers).properties(height=260)


def robustness(frame: pd.DataFrame, unit: str, identity: float) -> alt.LayerChart:
    """Accuracy and mean confidence against a transform's parameter; the unchanged value marked."""
    long = frame.melt(
        id_vars="value",
        value_vars=["accuracy", "mean_confidence"],
        var_name="measure",
        value_name="share",
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("value:Q", title=f"{frame['transform'].iloc[0]} ({unit})"),
            y=alt.Y(
                "share:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
            ),
            color=alt.Color("measure:N", legend=alt.Legend(orient="bottom")),
            tooltip=["measure", "value", alt.Tooltip("share:Q", format=".1%")],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"value": [identity]}))
        .mark_rule(strokeDash=[4, 3], color="#888")
        .encode(x="value:Q")
    )
    return alt.layer(lines, rule).properties(height=260)


def lr_finder(frame: pd.DataFrame, suggested: float | None) -> alt.LayerChart:
    """Loss (faint) and smoothed loss against the learning rate on a log axis."""
    base = alt.Chart(frame).encode(
        x=alt.X(
            "lr:Q", scale=alt.Scale(type="log"), title="learning rate", axis=alt.Axis(format=".0e")
        )
    )
    raw = base.mark_line(opacity=0.3, color="#4c78a8").encode(y=alt.Y("loss:Q", title="loss"))
    smooth = base.mark_line(color="#4c78a8", strokeWidth=2).encode(
        y="smoothed:Q",
        tooltip=[alt.Tooltip("lr:Q", format=".2e"), alt.Tooltip("smoothed:Q", format=".4f")],
    )
    layers = [raw, smooth]
    if suggested is not None:
        mark = pd.DataFrame({"lr": [suggested], "label": [f"suggested {suggested:.1e}"]})
        layers += [
            alt.Chart(mark).mark_rule(color="#e45756", strokeDash=[4, 3]).encode(x="lr:Q"),
            alt.Chart(mark)
            .mark_text(align="left", dx=4, color="#e45756")
            .encode(x="lr:Q", y=alt.value(10), text="label:N"),
        ]
    return alt.layer(*layers).properties(height=260)
