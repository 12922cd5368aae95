"""The Dataset page's pieces: the sample grid, one strip of images per class, and the channel
statistics beside the official CIFAR-10 values."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.cache import sample_rows
from app.glossary import TERMS
from app.state.dataset import GRID
from app.widgets import redraw_button
from lab.data import CIFAR10_MEAN, CIFAR10_STD, Dataset


def sample_choice(dataset: Dataset) -> tuple[list[str], int]:
    """The classes to show (every class a pill: a row of them wraps, where a multiselect's
    chips scroll out of sight) and the images per class, beside a Reshuffle button."""
    GRID.ensure_choices("classes", dataset.classes, dataset.classes)
    classes = st.pills("Classes", dataset.classes, selection_mode="multi", **GRID.widget("classes"))
    count, shuffle = st.columns([4, 1], vertical_alignment="bottom")
    per_class = count.slider("Images per class", 1, 16, **GRID.widget("per_class"))
    redraw_button(shuffle, "Reshuffle", ":material/shuffle:", GRID)
    return [name for name in dataset.classes if name in classes], per_class


def sample_grid(
    source: str, generation: int, classes: list[str], per_class: int, seed: int, dataset: Dataset
) -> None:
    for name, picture in sample_rows(source, generation, tuple(classes), per_class, seed, dataset):
        label, images = st.columns([1, 8], vertical_alignment="center")
        label.markdown(f"**{name}**")
        images.image(picture)


def channel_stats(dataset: Dataset) -> pd.DataFrame:
    """Mean and std per colour channel, of this data and of the official CIFAR-10."""
    return pd.DataFrame(
        {
            "channel": ["red", "green", "blue"],
            "mean (this data)": dataset.mean,
            "mean (official CIFAR-10)": CIFAR10_MEAN,
            "std (this data)": dataset.std,
            "std (official CIFAR-10)": CIFAR10_STD,
        }
    ).set_index("channel")


# The statistics table's columns: short labels, so all of them fit beside the histograms, and
# what each holds on hover.
STATS_COLUMNS = {
    "mean (this data)": ("mean", "Mean of the channel over every training pixel of this data"),
    "mean (official CIFAR-10)": ("mean CIFAR-10", "The official CIFAR-10 training mean"),
    "std (this data)": ("std", "Standard deviation of the channel over this data's pixels"),
    "std (official CIFAR-10)": ("std CIFAR-10", "The official CIFAR-10 training std"),
}


def channel_table(container, dataset: Dataset) -> None:
    """The channel statistics, every column in view."""
    container.dataframe(
        channel_stats(dataset).style.format("{:.4f}"),
        width="stretch",
        column_config={
            "_index": st.column_config.Column("channel", help=TERMS["mean / std"]),
            **{
                name: st.column_config.NumberColumn(label, help=help)
                for name, (label, help) in STATS_COLUMNS.items()
            },
        },
    )
