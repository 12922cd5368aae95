"""The Map tab: what a run's network learned, as a map of test images. The penultimate-layer
features of up to 2,000 test images projected to 2-D (t-SNE or PCA), one dot per image coloured
by its true class, mistakes marked; a click on a dot (or the picker) shows the image and its
nearest neighbours in feature space. A second checkpoint can be mapped beside the first."""

from __future__ import annotations

from functools import partial

import streamlit as st

from app import charts
from app.cache import inference_model
from app.data import require_dataset
from app.run_choice import checkpoint_file
from app.state import checkpoints
from app.state.checkpoints import VIEW
from app.views.checkpoints import chart, gallery, gallery_picture
from app.widgets import error_box, progress_bar
from lab.checkpoint import check_classes
from lab.data import Dataset
from lab.errors import LabError
from lab.lenses.embedding import EmbeddingMap, embedding_map
from lab.runs import RunInfo

PROJECTIONS = {"tsne": "t-SNE", "pca": "PCA"}
# Nearest neighbours shown for the picked image, per map.
NEIGHBOURS = 8
# The picked image is shown this many pixels wide.
PICKED_SIDE = 160


def render(found: list[RunInfo], run: RunInfo) -> None:
    by_name = {info.name: info for info in found}
    left, right = st.columns([1, 2])
    method = left.radio(
        "Projection",
        list(PROJECTIONS),
        format_func=PROJECTIONS.get,
        horizontal=True,
        help="t-SNE keeps each image near its neighbours: clusters read well, but the "
        "distances between clusters and their sizes mean little. PCA shows the two "
        "directions along which the features spread most: distances are faithful, the "
        "clusters crowd.",
        **VIEW.widget("map_method"),
    )
    options = ["", *(name for name in by_name if name != run.name)]
    VIEW.ensure_choice("map_other", options, "")
    other = right.selectbox(
        "Map a second run beside it",
        options,
        format_func=lambda name: name or "no second run",
        **VIEW.widget("map_other"),
    )
    dataset = require_dataset("map the test images")
    if dataset is None:
        return
    shown = [run] if not other else [run, by_name[other]]
    maps = {}
    for info in shown:
        found_map = map_of(info, dataset, method)
        if found_map is None:
            return
        maps[info.name] = found_map
    first = maps[run.name]
    indices = [int(i) for i in first.frame["index"]]
    VIEW.ensure_choice("map_index", indices, indices[0])
    picked = VIEW["map_index"]

    st.caption(
        f"{len(indices):,} test images, each a dot where the network's last layer but one "
        "puts it; colour: its true class, a cross: a mistake. Click a dot to see the image "
        "and its nearest neighbours (in the network's features, not on the map)."
    )
    for column, (name, found_map) in zip(st.columns(len(maps)), maps.items(), strict=True):
        key = f"{VIEW.key('map_chart')}_{name}"
        column.markdown(f"**{name}** · {PROJECTIONS[method]}")
        chart(
            column,
            charts.embedding,
            found_map.frame,
            dataset.classes,
            picked,
            key=key,
            on_select=partial(checkpoints.picked_on_chart, key, "index", "map_index"),
            selection_mode=charts.PICKED,
        )

    labels = {
        int(row.index): f"#{row.index}: {row.true}"
        + ("" if row.correct else f", taken for {row.predicted}")
        for row in first.frame.itertuples()
    }
    st.selectbox("Test image", indices, format_func=labels.get, **VIEW.widget("map_index"))
    for column, (name, found_map) in zip(st.columns(len(maps)), maps.items(), strict=True):
        with column:
            neighbours_of(name, found_map, dataset, picked)


def map_of(run: RunInfo, dataset: Dataset, method: str) -> EmbeddingMap | None:
    """The map of ``run``'s checkpoint: its features computed once (with a progress bar) and
    kept beside the checkpoint with every projection made, so later visits read a file."""

    def describe(done: int, total: int) -> str:
        return f"Reading the features of {run.name}: {done:,} of {total:,} test images, once"

    projecting = f"Projecting the features of {run.name} with {PROJECTIONS[method]} ..."
    try:
        with progress_bar(None, describe) as progress:
            loaded = inference_model(checkpoint_file(run))
            check_classes(loaded, dataset.classes)
            with st.spinner(projecting):
                return embedding_map(loaded, dataset, method, progress=progress)
    except LabError as error:
        error_box(st, error)
        return None


def neighbours_of(name: str, found_map: EmbeddingMap, dataset: Dataset, index: int) -> None:
    """The picked test image as ``name`` answered it, and its nearest neighbours for it."""
    row = found_map.frame.set_index("index").loc[index]
    verdict = "right" if row["correct"] else f"wrong: taken for {row['predicted']}"
    st.image(
        gallery_picture(dataset, index, PICKED_SIDE),
        caption=f"#{index}: {row['true']} ({name}: {verdict})",
        width=PICKED_SIDE,
    )
    near = found_map.neighbours(index, k=NEIGHBOURS)
    st.markdown(f"**Its {len(near)} nearest neighbours for {name}**")
    gallery(
        [gallery_picture(dataset, i) for i in near["index"]],
        [
            f"#{r.index} {r.true}" + ("" if r.correct else f" → {r.predicted}")
            for r in near.itertuples()
        ],
    )
