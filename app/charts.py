"""Altair chart builders: plain functions from data frames (or lists) to charts."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from lab.jobs import BatchLoss
from lab.lenses.lr_finder import LrFinderResult, format_rate

CHANNEL_COLOURS = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
SPLIT_COLOURS = {"train": "#4c78a8", "val": "#f58518", "test": "#54a24b"}
# Class names on a category axis: slanted, and every one shown (Vega hides overlapping labels).
CLASS_AXIS = alt.Axis(labelAngle=-45, labelOverlap=False)
# A live chart redrawn every second or two stays light with at most this many points.
MAX_BATCH_POINTS = 1500
# Up to this many epochs, an epoch axis has a tick at every one; longer runs get whole-number
# ticks that Vega spaces out.
EPOCHS_LISTED = 20
# Height of one line of an epoch mark's label, in pixels: stacked labels do not overlap.
MARK_LINE = 14
MINUS = "\u2212"  # Vega writes negative numbers with the minus sign, not a hyphen


def epoch_x(epochs: pd.Series) -> alt.X:
    """An x axis of epochs in whole numbers. A short run gets a tick at every epoch, listed:
    Vega's own ticks put one at 1.5 on a two-epoch run even with ``tickMinStep=1`` (it asks d3
    for two ticks over a span of one), and it thins listed ticks when ``tickMinStep`` is set
    too, so the two are never combined."""
    epochs = pd.to_numeric(pd.Series(epochs), errors="coerce").dropna().astype(int)
    if len(epochs) and epochs.max() - epochs.min() < EPOCHS_LISTED:
        ticks = {"values": list(range(int(epochs.min()), int(epochs.max()) + 1))}
    else:
        ticks = {"tickMinStep": 1}
    return alt.X("epoch:Q", title="epoch", axis=alt.Axis(format=".0f", **ticks))


def epoch_marks(marks: Sequence[tuple[int, str, str]], epochs: pd.Series) -> list[alt.Chart]:
    """Dashed rules at marked epochs, each (epoch, label, colour), with the label written at the
    top of the plot: stacked one line apart, and turned to the left of its rule in the right
    half of the plot, so no label runs past the plot onto the legend."""
    if not marks:
        return []
    epochs = pd.to_numeric(pd.Series(epochs), errors="coerce").dropna()
    middle = (epochs.min() + epochs.max()) / 2 if len(epochs) else 0
    frame = pd.DataFrame(
        [
            {
                "epoch": epoch,
                "label": label,
                "colour": colour,
                "top": 8 + MARK_LINE * line,
                "side": "right" if epoch > middle else "left",
            }
            for line, (epoch, label, colour) in enumerate(marks)
        ]
    )
    base = alt.Chart(frame).encode(x="epoch:Q")
    rules = base.mark_rule(strokeDash=[4, 3], strokeWidth=1.5).encode(
        color=alt.Color("colour:N", scale=None)
    )
    texts = []
    # Only the sides that have a label: a layer left without data makes Vega warn of an
    # infinite extent.
    for side, dx in (("left", 4), ("right", -4)):
        if side not in set(frame["side"]):
            continue
        texts.append(
            base.transform_filter(alt.datum.side == side)
            .mark_text(align=side, dx=dx, baseline="middle")
            .encode(
                y=alt.Y("top:Q", scale=None),
                text="label:N",
                color=alt.Color("colour:N", scale=None),
            )
        )
    return [rules, *texts]


def signed_percent(value: float, decimals: int = 0) -> str:
    """A difference as a signed percentage (+12%, \u22123%), and 0% for one that rounds to
    nothing: never \u22120% or +0%."""
    text = f"{value:+.{decimals}%}"
    if float(text[:-1]) == 0:
        return f"{0:.{decimals}%}"
    return text.replace("-", MINUS)


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
    splits = [split for split in SPLIT_COLOURS if split in set(long["split"])]
    title = "accuracy" if kind == "acc" else "loss"
    y_axis = alt.Axis(format="%") if kind == "acc" else alt.Axis()
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=epoch_x(long["epoch"]),
            y=alt.Y(f"{kind}:Q", title=title, axis=y_axis, scale=alt.Scale(zero=False)),
            color=alt.Color(
                "split:N",
                scale=alt.Scale(domain=splits, range=[SPLIT_COLOURS[s] for s in splits]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["epoch", "split", alt.Tooltip(f"{kind}:Q", format=".4f", title=title)],
        )
    )
    marks = [(best_epoch, f"best: epoch {best_epoch}", "#666")] if best_epoch else []
    return alt.layer(lines, *epoch_marks(marks, long["epoch"])).properties(
        height=300, title=f"{title} per epoch"
    )


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
    # Batches are whole numbers; the loss axis is fitted to the losses, as a short run's move
    # by hundredths and would be a flat line on an axis from 0.
    x = alt.X("step:Q", title="batch", axis=alt.Axis(format="d", tickMinStep=1))
    fitted = alt.Scale(zero=False)
    base = alt.Chart(frame).encode(x=x)
    raw = base.mark_line(opacity=0.25, color="#4c78a8").encode(
        y=alt.Y("loss:Q", title="loss", scale=fitted)
    )
    smooth = base.mark_line(color="#4c78a8", strokeWidth=2).encode(
        y=alt.Y("smoothed:Q", scale=fitted),
        tooltip=["step", "epoch", alt.Tooltip("loss:Q", format=".4f"), "smoothed"],
    )
    return alt.layer(raw, smooth).properties(height=220, title="training loss per batch (smoothed)")


def run_overlay(frame: pd.DataFrame, metric: str, title: str) -> alt.Chart:
    """One line per run of ``metric`` per epoch, its axis titled ``title`` (plain words);
    ``frame`` has run, epoch and the metric."""
    axis = alt.Axis(format="%") if metric.endswith("_acc") else alt.Axis()
    shown = frame.dropna(subset=[metric])
    return (
        alt.Chart(shown)
        .mark_line(point=True)
        .encode(
            x=epoch_x(shown["epoch"]),
            y=alt.Y(f"{metric}:Q", title=title, axis=axis, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", legend=alt.Legend(orient="bottom", columns=2)),
            tooltip=["run", "epoch", alt.Tooltip(f"{metric}:Q", format=".4f", title=title)],
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
        x=alt.X("predicted:N", sort=list(classes), axis=CLASS_AXIS, title="predicted class"),
        y=alt.Y(
            "true:N", sort=list(classes), axis=alt.Axis(labelOverlap=False), title="true class"
        ),
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
        "y": alt.Y(
            "accuracy:Q",
            title="accuracy",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
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
            y2=alt.datum(0),
            y=alt.Y(
                "accuracy:Q",
                title="share answered right",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            tooltip=[
                alt.Tooltip("lower:Q", format=".1f", title="confidence from"),
                alt.Tooltip("upper:Q", format=".1f", title="confidence to"),
                alt.Tooltip("count:Q", title="images"),
                alt.Tooltip("confidence:Q", format=".1%", title="mean confidence"),
                alt.Tooltip("accuracy:Q", format=".1%", title="answered right"),
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
        .encode(x="confidence:Q", y="accuracy:Q", tooltip=[alt.Tooltip("count:Q", title="images")])
    )
    return alt.layer(bars, diagonal, points).properties(height=280)


def per_class_scores(table: pd.DataFrame) -> alt.Chart:
    """Precision, recall and F1 per class, side by side."""
    long = table.rename(columns={"f1": "F1"}).melt(
        id_vars="class", value_vars=["precision", "recall", "F1"], var_name="score"
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=None, title=None, axis=CLASS_AXIS),
            xOffset=alt.XOffset("score:N", sort=["precision", "recall", "F1"]),
            y=alt.Y(
                "value:Q", title="score", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
            ),
            color=alt.Color(
                "score:N", sort=["precision", "recall", "F1"], legend=alt.Legend(orient="bottom")
            ),
            tooltip=["class", "score", alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(height=260)
    )


def accuracy_difference(frame: pd.DataFrame, first: str, second: str) -> alt.Chart:
    """Per-class accuracy of ``second`` minus ``first``: green where the second is better."""
    shown = frame.assign(label=[signed_percent(v, 1) for v in frame["difference"]])
    return (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=None, title=None, axis=CLASS_AXIS),
            y=alt.Y(
                "difference:Q",
                axis=alt.Axis(format="%"),
                title=f"accuracy of {second} − {first}",
            ),
            color=alt.condition(
                alt.datum.difference >= 0, alt.value("#54a24b"), alt.value("#e45756")
            ),
            tooltip=[
                "class",
                alt.Tooltip("accuracy_a:Q", format=".1%", title=first),
                alt.Tooltip("accuracy_b:Q", format=".1%", title=second),
                alt.Tooltip("label:N", title="difference"),
            ],
        )
        .properties(height=240)
    )


def diverging_matrix(frame: pd.DataFrame, classes: Sequence[str]) -> alt.LayerChart:
    """Heat map of a class matrix with signed values (``true``, ``predicted``, ``value``):
    red below zero, blue above, white at zero."""
    limit = max(float(frame["value"].abs().max()), 1e-9)
    shown = frame.assign(
        label=[signed_percent(v) for v in frame["value"]],
        exact=[signed_percent(v, 1) for v in frame["value"]],
    )
    base = alt.Chart(shown).encode(
        x=alt.X("predicted:N", sort=list(classes), axis=CLASS_AXIS, title="predicted class"),
        y=alt.Y(
            "true:N", sort=list(classes), axis=alt.Axis(labelOverlap=False), title="true class"
        ),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "value:Q",
            scale=alt.Scale(scheme="redblue", domain=[-limit, limit], domainMid=0),
            legend=None,  # every cell has its value written
        ),
        tooltip=["true", "predicted", alt.Tooltip("exact:N", title="difference")],
    )
    text = base.mark_text(fontSize=10).encode(text="label:N")
    return alt.layer(cells, text).properties(height=380)


def what_if(
    history: pd.DataFrame, monitor: str, title: str, stop: int | None, kept: int | None
) -> alt.LayerChart:
    """The monitored metric per epoch (its axis titled ``title``), with where early stopping
    would stop and the epoch it keeps."""
    frame = history[["epoch", monitor]].dropna()
    axis = alt.Axis(format="%") if monitor.endswith("_acc") else alt.Axis()
    line = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=epoch_x(frame["epoch"]),
            y=alt.Y(f"{monitor}:Q", title=title, axis=axis, scale=alt.Scale(zero=False)),
            tooltip=["epoch", alt.Tooltip(f"{monitor}:Q", format=".4f", title=title)],
        )
    )
    marks = [
        (epoch, label, colour)
        for epoch, label, colour in (
            (stop, f"would stop after {stop}", "#e45756"),
            (kept, f"kept: epoch {kept}", "#54a24b"),
        )
        if epoch is not None
    ]
    return alt.layer(line, *epoch_marks(marks, frame["epoch"])).properties(height=240)


def gap(
    frame: pd.DataFrame, column: str, title: str, events: pd.DataFrame, percent: bool
) -> alt.LayerChart:
    """One gap between training and held-out figures per epoch (``column`` of ``frame``), its
    axis titled ``title`` as a difference ("training − validation accuracy"), so a negative
    value reads as the held-out images doing better; marked epochs (overfitting onset, spikes)
    as rules."""
    axis = alt.Axis(format="%") if percent else alt.Axis()
    value_format = ".1%" if percent else ".3f"
    line = (
        alt.Chart(frame)
        .mark_line(point=True, color="#4c78a8")
        .encode(
            x=epoch_x(frame["epoch"]),
            y=alt.Y(f"{column}:Q", title=title, axis=axis),
            tooltip=["epoch", alt.Tooltip(f"{column}:Q", format=value_format, title=title)],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#bbb").encode(y="y:Q")
    layers = [line, zero]
    if not events.empty:
        layers.append(
            alt.Chart(events)
            .mark_rule(strokeDash=[4, 3], color="#e45756")
            .encode(x="epoch:Q", tooltip=["epoch", alt.Tooltip("message:N", title="what")])
        )
    return alt.layer(*layers).properties(height=240)


def robustness(frame: pd.DataFrame, unit: str, identity: float) -> alt.LayerChart:
    """Accuracy and mean confidence against a transform's parameter; the unchanged value marked."""
    long = frame.melt(
        id_vars="value",
        value_vars=["accuracy", "mean_confidence"],
        var_name="measure",
        value_name="share",
    ).replace({"measure": {"mean_confidence": "mean confidence"}})
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


def lr_finder(result: LrFinderResult) -> alt.LayerChart:
    """Loss (faint) and smoothed loss against the learning rate on a log axis, over the
    informative steps only and on a capped loss axis, with the suggestion marked."""
    frame, (low, high) = result.informative_view()
    x = alt.X(
        "lr:Q", scale=alt.Scale(type="log"), title="learning rate", axis=alt.Axis(format=".0e")
    )
    y = alt.Scale(domain=[low, high], clamp=True)
    base = alt.Chart(frame).encode(x=x)
    layers = [
        base.mark_line(opacity=0.3, color="#4c78a8", clip=True).encode(
            y=alt.Y("loss:Q", title="training loss", scale=y)
        ),
        base.mark_line(color="#4c78a8", strokeWidth=2, clip=True).encode(
            y=alt.Y("smoothed:Q", scale=y),
            tooltip=[
                alt.Tooltip("lr:Q", format=".2e", title="learning rate"),
                alt.Tooltip("smoothed:Q", format=".4f", title="smoothed loss"),
            ],
        ),
    ]
    suggested = result.suggestion.lr
    if suggested is not None:
        label = f"suggested {format_rate(suggested)}"
        mark = pd.DataFrame({"lr": [suggested], "label": [label]})
        # The label reads away from the nearer edge of the plot, so it never runs past it.
        middle = np.sqrt(frame["lr"].min() * frame["lr"].max()) if len(frame) else suggested
        align, dx = ("right", -4) if suggested > middle else ("left", 4)
        layers += [
            alt.Chart(mark).mark_rule(color="#e45756", strokeDash=[4, 3]).encode(x="lr:Q"),
            alt.Chart(mark)
            .mark_text(align=align, dx=dx, baseline="middle", color="#e45756")
            .encode(x="lr:Q", y=alt.value(12), text="label:N"),
        ]
    return alt.layer(*layers).properties(height=260, title="loss while the learning rate grows")


# --- the map of what a model learned, and sweeps --------------------------------------------------

# The selection parameter of the embedding map and of the sweep heatmap: a click picks a mark.
PICKED = "picked"
# The sweep heatmap's height: per learning rate, and for the axes below the cells.
SWEEP_ROW = 64
SWEEP_AXES = 90


def embedding(frame: pd.DataFrame, classes: Sequence[str], picked: int | None) -> alt.LayerChart:
    """The map of test images (``lab.lenses.embedding.EmbeddingMap.frame``): one dot per image
    coloured by its true class, a cross where the model got it wrong, the true and predicted
    class on hover; a click selects an image (parameter ``PICKED``, field ``index``), and the
    ``picked`` one is ringed. The coordinates mean nothing in themselves, so there are no axes."""
    shown = frame.assign(answer=np.where(frame["correct"], "right", "wrong"))
    pick = alt.selection_point(name=PICKED, fields=["index"], on="click")
    dots = (
        alt.Chart(shown)
        .mark_point(filled=True, size=40, opacity=0.75)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            color=alt.Color(
                "true:N",
                scale=alt.Scale(domain=list(classes), scheme="category10"),
                legend=alt.Legend(orient="bottom", columns=5, title="true class"),
            ),
            shape=alt.Shape(
                "answer:N",
                scale=alt.Scale(domain=["right", "wrong"], range=["circle", "cross"]),
                legend=alt.Legend(orient="bottom", title="the model's answer"),
            ),
            tooltip=[
                alt.Tooltip("index:Q", title="test image"),
                alt.Tooltip("true:N", title="true class"),
                alt.Tooltip("predicted:N", title="predicted"),
            ],
        )
        .add_params(pick)
    )
    ring = (
        alt.Chart(shown[shown["index"] == picked])
        .mark_point(size=320, strokeWidth=2.5, color="black", filled=False)
        .encode(x="x:Q", y="y:Q")
    )
    return alt.layer(dots, ring).properties(height=460)


def sweep_heatmap(frame: pd.DataFrame, best: int | None) -> alt.LayerChart:
    """Best validation accuracy over learning rate (rows) × patience (columns), written in each
    cell; the ``best`` row of ``frame`` outlined. ``frame`` (``lab.sweep.results_frame``) needs a
    ``row`` column: a click selects a cell (parameter ``PICKED``, field ``row``)."""
    shown = frame.assign(
        rate=[f"{lr:g}" for lr in frame["lr"]],
        label=[f"{v:.1%}" if pd.notna(v) else "–" for v in frame["best_val_acc"]],
    )
    rates = [f"{lr:g}" for lr in sorted(frame["lr"].unique())]
    pick = alt.selection_point(name=PICKED, fields=["row"], on="click")
    base = alt.Chart(shown).encode(
        x=alt.X(
            "patience:O",
            title="patience (epochs without improvement)",
            axis=alt.Axis(labelAngle=0),
        ),
        y=alt.Y("rate:N", sort=rates, title="learning rate"),
    )
    cells = (
        base.mark_rect()
        .encode(
            color=alt.Color(
                "best_val_acc:Q",
                scale=alt.Scale(scheme="blues"),
                title="best validation accuracy",
                legend=alt.Legend(format=".0%"),
            ),
            tooltip=[
                alt.Tooltip("rate:N", title="learning rate"),
                "patience",
                alt.Tooltip("best_val_acc:Q", format=".2%", title="best validation accuracy"),
                alt.Tooltip("test_acc:Q", format=".2%", title="test accuracy"),
                alt.Tooltip("best_epoch:Q", title="best epoch"),
                alt.Tooltip("stop_epoch:Q", title="stopped after epoch"),
            ],
        )
        .add_params(pick)
    )
    scores = shown["best_val_acc"].dropna()
    # White text on the darker half of the colour scale (lowest to highest score).
    threshold = float(scores.min() + scores.max()) / 2 if len(scores) else 0.0
    text = base.mark_text(fontSize=13).encode(
        text="label:N",
        color=alt.condition(
            alt.datum.best_val_acc > threshold, alt.value("white"), alt.value("black")
        ),
    )
    layers = [cells, text]
    if best is not None:
        layers.append(
            alt.Chart(shown[shown["row"] == best])
            .mark_rect(filled=False, stroke="#e45756", strokeWidth=4)
            .encode(x="patience:O", y=alt.Y("rate:N", sort=rates))
        )
    # Streamlit fits the whole chart, axes and their titles too, into this height.
    return alt.layer(*layers).properties(height=SWEEP_ROW * len(rates) + SWEEP_AXES)
