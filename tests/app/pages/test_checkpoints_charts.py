"""The Checkpoints page's charts read as plain words (issue 12, Layout): epoch axes in whole
numbers, marked epochs labelled inside the plot and away from the legend, axis titles without
column names such as ``val_acc`` or ``acc_gap``, a gap axis whose negative values make sense,
and no "−0%"."""

from __future__ import annotations

import pandas as pd
import pytest

from app import charts

HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2],
        "train_loss": [2.0, 1.5],
        "train_acc": [0.30, 0.42],
        "val_loss": [1.9, 1.7],
        "val_acc": [0.35, 0.40],
    }
)
GAP = HISTORY.assign(acc_gap=[-0.05, 0.02], loss_gap=[-0.1, 0.2])


def layers(chart) -> list[dict]:
    spec = chart.to_dict()
    return [spec, *spec.get("layer", [])]


def axis_titles(chart) -> list[str]:
    """What each x and y axis of the chart is titled: its title, else its field's name."""
    found = []
    for layer in layers(chart):
        for channel in ("x", "y"):
            encoding = layer.get("encoding", {}).get(channel)
            if encoding and "field" in encoding and encoding.get("axis", {}) is not None:
                found.append(encoding.get("title", encoding["field"]))
    return found


EPOCH_CHARTS = {
    "epoch curves": lambda: charts.epoch_curves(HISTORY, "acc", 2),
    "runs overlaid": lambda: charts.run_overlay(
        HISTORY.assign(run="a"), "val_acc", "validation accuracy"
    ),
    "what-if": lambda: charts.what_if(HISTORY, "val_acc", "validation accuracy", 2, 1),
    "accuracy gap": lambda: charts.gap(
        GAP, "acc_gap", "training − validation accuracy", pd.DataFrame(), True
    ),
}


@pytest.mark.parametrize("name", EPOCH_CHARTS)
def test_epoch_axes_show_whole_numbers(name):
    chart = EPOCH_CHARTS[name]()
    x = next(layer["encoding"]["x"] for layer in layers(chart) if "x" in layer.get("encoding", {}))
    assert x["field"] == "epoch" and x["axis"]["format"] == ".0f"
    # A short run: a tick at every epoch and none between (Vega's own ticks for two epochs
    # are 1, 1.5 and 2), and no tickMinStep, with which Vega thins listed ticks.
    assert x["axis"]["values"] == [1, 2] and "tickMinStep" not in x["axis"]


def test_a_long_run_gets_whole_number_ticks_spaced_by_vega():
    history = pd.DataFrame({"epoch": range(1, 101), "val_acc": 0.5})
    x = charts.what_if(history, "val_acc", "validation accuracy", None, 100).to_dict()
    axis = x["layer"][0]["encoding"]["x"]["axis"]
    assert axis == {"format": ".0f", "tickMinStep": 1}


@pytest.mark.parametrize("name", EPOCH_CHARTS)
def test_axis_titles_are_plain_words(name):
    titles = axis_titles(EPOCH_CHARTS[name]())
    assert titles and not [title for title in titles if "_" in title], titles


def test_the_gap_axis_says_which_side_does_better():
    """A "train better by" axis at −5% reads as nonsense; a difference reads either way."""
    chart = charts.gap(GAP, "acc_gap", "training − validation accuracy", pd.DataFrame(), True)
    assert "training − validation accuracy" in axis_titles(chart)


def test_a_mark_in_the_right_half_is_labelled_to_the_left_of_its_rule():
    """The "best: epoch N" label of a run's last epoch used to run off the plot onto the
    legend (now below the plot)."""
    chart = charts.epoch_curves(HISTORY, "acc", 2)
    texts = [layer for layer in layers(chart) if layer.get("mark", {}).get("type") == "text"]
    sides = {layer["mark"]["align"]: layer["mark"]["dx"] for layer in texts}
    assert sides == {"right": -4}  # no text layer for the side without a label
    data = chart.to_dict()["datasets"]
    (marks,) = [rows for rows in data.values() if rows and "label" in rows[0]]
    assert marks == [
        {"epoch": 2, "label": "best: epoch 2", "colour": "#666", "top": 8, "side": "right"}
    ]
    (legend,) = [
        layer["encoding"]["color"]["legend"]
        for layer in layers(chart)
        if "legend" in layer.get("encoding", {}).get("color", {})
    ]
    assert legend["orient"] == "bottom"


def test_two_marks_are_stacked_not_written_over_each_other():
    chart = charts.what_if(HISTORY, "val_acc", "validation accuracy", 2, 2)
    (marks,) = [rows for rows in chart.to_dict()["datasets"].values() if "label" in rows[0]]
    assert [mark["top"] for mark in marks] == [8, 8 + charts.MARK_LINE]


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (0.12, 0, "+12%"),
        (-0.03, 0, "−3%"),
        (-0.001, 0, "0%"),
        (0.004, 0, "0%"),
        (-0.0004, 1, "0.0%"),
    ],
)
def test_a_difference_that_rounds_to_nothing_reads_0_percent(value, decimals, text):
    assert charts.signed_percent(value, decimals) == text


def test_the_confusion_difference_writes_no_minus_zero():
    frame = pd.DataFrame(
        {
            "true": ["a", "a", "b", "b"],
            "predicted": ["a", "b", "a", "b"],
            "value": [-0.001, 0.2, -0.25, 0.0],
        }
    )
    chart = charts.diverging_matrix(frame, ["a", "b"])
    (rows,) = chart.to_dict()["datasets"].values()
    assert [row["label"] for row in rows] == ["0%", "+20%", "−25%", "0%"]
    (text,) = [layer for layer in layers(chart) if layer.get("mark", {}).get("type") == "text"]
    assert text["encoding"]["text"]["field"] == "label"
