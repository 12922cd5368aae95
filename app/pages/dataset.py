"""Dataset: images per class and split, a sample grid, channel statistics and histograms."""

import streamlit as st

from app import charts, serving
from app.cache import class_count_frame, data_store, pixel_histograms
from app.data import require_dataset
from app.state import source
from app.state.dataset import GRID
from app.views import dataset as view

st.title("Dataset", anchor=False)
dataset = require_dataset("show its images and statistics")
if dataset is None:
    st.stop()
data = source.data_source()
generation = data_store().generation(data)
height, width = dataset.image_size
st.caption(
    f"`{serving.shown(data)}` · {len(dataset.classes)} classes · {len(dataset.train):,} "
    f"training and {len(dataset.test):,} test images of {width}x{height} px"
)

st.subheader("Images per class", anchor=False)
st.altair_chart(charts.class_counts(class_count_frame(data, generation, dataset)), width="stretch")

st.subheader("Sample images", anchor=False)
classes, per_class = view.sample_choice(dataset)
view.sample_grid(data, generation, classes, per_class, GRID["seed"], dataset)
st.caption(
    f"Seed {GRID['seed']}: pixels are enlarged by nearest neighbour, so "
    "every original pixel stays a crisp square."
)

st.subheader("Channel statistics", anchor=False)
left, right = st.columns([1, 1])
view.channel_table(left, dataset)
left.caption(
    "Computed from every training pixel (scaled to [0, 1]) when the data was first decoded; "
    "the training pipeline normalises with these values."
)
right.altair_chart(
    charts.pixel_histograms(pixel_histograms(data, generation, dataset)), width="stretch"
)
