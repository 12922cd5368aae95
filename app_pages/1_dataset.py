"""Dataset: images per class and split, a sample grid, channel statistics and histograms."""

import pandas as pd
import streamlit as st

from lab.data import CIFAR10_MEAN, CIFAR10_STD
from ui import charts, state
from ui.cache import class_count_frame, data_store, pixel_histograms, sample_rows
from ui.data import require_dataset

st.title("Dataset", anchor=False)
dataset = require_dataset("show its images and statistics")
if dataset is None:
    st.stop()
source = state.data_source()
generation = data_store().generation(source)
height, width = dataset.image_size
st.caption(
    f"`{source}` · {len(dataset.classes)} classes · {len(dataset.train):,} training and "
    f"{len(dataset.test):,} test images of {width}x{height} px"
)

st.subheader("Images per class", anchor=False)
st.altair_chart(
    charts.class_counts(class_count_frame(source, generation, dataset)), width="stretch"
)

st.subheader("Sample images", anchor=False)
state.ensure_choices(state.GRID_CLASSES, dataset.classes, dataset.classes)
pick, count, shuffle = st.columns([4, 2, 1], vertical_alignment="bottom")
classes = pick.multiselect("Classes", dataset.classes, key=state.GRID_CLASSES)
per_class = count.slider("Images per class", 1, 16, key=state.GRID_PER_CLASS)
seed = state.seed_of(state.GRID_SEED)
shuffle.button(
    "Reshuffle",
    icon=":material/shuffle:",
    on_click=state.next_seed,
    args=(state.GRID_SEED,),
    width="stretch",
)
for name, picture in sample_rows(source, generation, tuple(classes), per_class, seed, dataset):
    label, images = st.columns([1, 8], vertical_alignment="center")
    label.markdown(f"**{name}**")
    images.image(picture)
st.caption(
    f"Seed {seed}: pixels are enlarged by nearest neighbour, so "
    "every original pixel stays a crisp square."
)

st.subheader("Channel statistics", anchor=False)
stats = pd.DataFrame(
    {
        "channel": ["red", "green", "blue"],
        "mean (this data)": dataset.mean,
        "mean (official CIFAR-10)": CIFAR10_MEAN,
        "std (this data)": dataset.std,
        "std (official CIFAR-10)": CIFAR10_STD,
    }
).set_index("channel")
left, right = st.columns([2, 3])
left.dataframe(stats.style.format("{:.4f}"), width="stretch")
left.caption(
    "Computed from every training pixel (scaled to [0, 1]) when the data was first decoded; "
    "the training pipeline normalises with these values."
)
right.altair_chart(
    charts.pixel_histograms(pixel_histograms(source, generation, dataset)), width="stretch"
)
