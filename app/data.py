"""The data a page needs, with a progress bar the first time and a clear way out without it."""

from __future__ import annotations

import streamlit as st

from app import serving
from app.cache import data_store
from app.state import source as data_choice
from app.widgets import progress_bar
from lab.config import CIFAR10_SOURCE, DATA_ENV
from lab.data import Dataset
from lab.errors import LabError


def require_dataset(purpose: str) -> Dataset | None:
    """The sidebar's data set, or ``None`` after explaining how to point the lab at data.

    ``purpose`` completes "... needs data to ..." in the explanation.
    """
    source = data_choice.data_source()
    if not source:
        explain_missing_data(purpose, data_choice.data_source_problem() or "no data source chosen")
        return None
    store = data_store()
    if store.has(source):
        return store.load(source)

    def describe(done: int, total: int) -> str:
        return f"Decoding {done:,} of {total:,} images, once: later visits read a cache"

    try:
        with progress_bar(f"Reading {serving.shown(source)} ...", describe) as progress:
            return store.load(source, progress)
    except LabError as error:
        explain_missing_data(purpose, str(error))
        return None


def explain_missing_data(purpose: str, reason: str) -> None:
    """What went wrong and the three ways to fix it, plus a retry button."""
    st.warning(
        f"This page needs data to {purpose}, and none could be loaded: {serving.shown(reason)}"
    )
    st.markdown(
        f"""
**How to point CIFAR Lab at data**

- Set **`{DATA_ENV}`** to an image folder laid out as `train/<class>/*.jpg` and
  `test/<class>/*.jpg` before starting the app, e.g.
  `{DATA_ENV}=/data/cifar10-jpeg make app`;
- or choose **A folder on this server** in the sidebar and type the folder's path;
- or choose **`{CIFAR10_SOURCE}`** in the sidebar to download CIFAR-10 (170 MB, needs internet).
"""
    )
    st.button(
        "Try again",
        key=f"retry_data_{purpose}",
        on_click=data_store().forget,
        args=(data_choice.data_source(),),
        help="Read the data source again, e.g. after copying the data into place",
    )
