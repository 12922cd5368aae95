"""The Inside page's pieces: the checkpoint and the image to look into, and one function per
section (the path through the layers, the feature maps, the first layer's filters, what a
channel responds to, the attributions), each drawing what ``lab.lenses.inside`` and
``lab.lenses.attribution`` compute.

The heavy parts are cached with ``st.cache_data`` by checkpoint version (path and modification
time) and by a hash of the image's pixels. Inference models are shared by every session, and
the lenses hook into the model's layers while they run, so the page's lens calls on one model
take turns under that model's lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app.cache import data_store, file_version, inference_model
from app.images import chw_to_hwc, image_key, upscale
from app.state.inside import CAMERA, IMAGE_UPLOAD, MAX_MAPS, PICKS
from app.widgets import class_choice, error_box, progress_bar
from lab import runs
from lab.checkpoint import LoadedModel
from lab.data import IMAGE_SUFFIXES, Dataset
from lab.errors import LabError
from lab.lenses.attribution import METHODS, explain
from lab.lenses.gradcam import Explanation
from lab.lenses.inside import (
    ChannelActivations,
    ImagePath,
    InsideView,
    LayerMaps,
    channel_activations,
    filter_grid,
    first_filters,
    first_filters_learned,
    look_inside,
    map_picture,
)
from lab.predict import MAX_FILE_BYTES, MAX_PIXELS, SHOWN_SIDE, open_image, shown_size
from lab.runs import RunInfo

# What the uploader offers: the picture formats the lab reads.
IMAGE_TYPES = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)
SOURCES = {"test": "A test image", "upload": "Upload an image", "camera": "Take a photo"}
# Display sides in pixels; pictures are enlarged by a whole factor, so they stay crisp.
PICTURE_SIDE = 192
MAP_SIDE = 112
FILTER_SIDE = 384
# Columns of the first layer's filter grid (8 x 8 for the notebook AlexNet's 64 kernels).
FILTER_COLUMNS = 8
# The test images shown for one channel.
TOP_IMAGES = 8
# Streamlit sends pictures as JPEG unless told otherwise, which blurs the edges of enlarged
# pixels; PNG keeps them sharp (and is smaller for such blocky pictures).
CRISP = "PNG"
# White pixels left and right of each picture of a row, so neighbours do not touch.
MARGIN = 3


# --- what to look into --------------------------------------------------------------------------


def checkpoint_choice(found: list[RunInfo], default: str | None) -> Path:
    """A run and one of its checkpoint files (best.pt, last.pt); returns the file's path."""
    names = [run.name for run in found]
    PICKS.ensure_choice("run", names, default)
    left, right = st.columns([3, 1])
    name = left.selectbox("Run (default: best validation accuracy)", names, **PICKS.widget("run"))
    folder = found[names.index(name)].path
    files = [file for file in (runs.BEST, runs.LAST) if (folder / file).is_file()]
    PICKS.ensure_choice("file", files, runs.checkpoint_to_show(folder).name)
    file = right.segmented_control(
        "Checkpoint",
        files,
        required=True,
        help="best.pt: the epoch with the best validation score; last.pt: the latest epoch",
        **PICKS.widget("file"),
    )
    return folder / file


def draw_test_image(dataset: Dataset) -> None:
    PICKS.set("test_index", int(np.random.default_rng().integers(len(dataset.test))))


def image_choice(dataset: Dataset | None) -> tuple[str, Image.Image, tuple[int, int]] | None:
    """The image to look into, with its name and the size it was given at: a random test
    image (one is drawn on the first visit), an upload or a photo, kept at most
    ``SHOWN_SIDE`` px; None until there is one. A file that is not a picture is refused in a
    sentence."""
    source = st.segmented_control(
        "Image",
        tuple(SOURCES),
        format_func=SOURCES.get,
        required=True,
        **PICKS.widget("source"),
    )
    if source == "test":
        if dataset is None:
            return None
        if PICKS["test_index"] is None or PICKS["test_index"] >= len(dataset.test):
            draw_test_image(dataset)
        st.button(
            "Random test image", icon=":material/casino:", on_click=draw_test_image, args=(dataset,)
        )
        index = PICKS["test_index"]
        true = dataset.classes[int(dataset.test.labels[index])]
        picture = Image.fromarray(chw_to_hwc(dataset.test.images[index]))
        return f"test image {index} ({true})", picture, picture.size
    if source == "upload":
        megabytes = min(st.get_option("server.maxUploadSize"), MAX_FILE_BYTES // 2**20)
        file = st.file_uploader(
            f"An image ({', '.join(IMAGE_TYPES)}; up to {megabytes} MB and "
            f"{MAX_PIXELS // 1_000_000} megapixels)",
            type=IMAGE_TYPES,
            key=IMAGE_UPLOAD,
        )
    else:
        file = st.camera_input("A photo from your camera", key=CAMERA)
    if file is None:
        return None
    try:
        data = file.getvalue()
        picture = open_image(data, file.name, max_side=SHOWN_SIDE)
        return file.name, picture, shown_size(data, file.name)
    except LabError as error:
        error_box(st, error, ":material/broken_image:")
        return None


# --- the cached lens calls ----------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=8)
def _model_lock(version: tuple[str, int, int]) -> threading.Lock:
    return threading.Lock()


def _model(version: tuple[str, int, int]) -> tuple[LoadedModel, threading.Lock]:
    """The loaded checkpoint of ``file_version`` ``version``, and the lock its hooks need."""
    return inference_model(Path(version[0])), _model_lock(version)


@st.cache_data(show_spinner=False, max_entries=32)
def _inside(version: tuple[str, int, int], image: str, _picture: Image.Image) -> InsideView:
    loaded, lock = _model(version)
    with lock:
        return look_inside(loaded, _picture)


def look(checkpoint: Path, picture: Image.Image) -> InsideView:
    """``lab.lenses.inside.look_inside``, once per checkpoint version and image."""
    return _inside(file_version(checkpoint), image_key(picture), picture)


@st.cache_data(show_spinner=False, max_entries=8)
def _filters(version: tuple[str, int, int]) -> np.ndarray:
    weights = first_filters(inference_model(Path(version[0])).model)
    return upscale(filter_grid(weights, columns=FILTER_COLUMNS), FILTER_SIDE)


@st.cache_data(show_spinner=False, max_entries=8)
def _ranking(
    version: tuple[str, int, int], source: str, generation: int, _dataset: Dataset
) -> ChannelActivations:
    def describe(done: int, total: int) -> str:
        return f"Passing test image {done:,} of {total:,} through the network (once per checkpoint)"

    loaded, lock = _model(version)
    with progress_bar("Ranking the test images ...", describe) as progress, lock:
        return channel_activations(loaded, _dataset, progress=progress)


def ranking(checkpoint: Path, source: str, dataset: Dataset) -> ChannelActivations:
    """``lab.lenses.inside.channel_activations`` on 2,000 test images, once per checkpoint
    version and data source (the first time with a progress bar; the run folder keeps it too,
    so a restarted app reads it back)."""
    return _ranking(file_version(checkpoint), source, data_store().generation(source), dataset)


@st.cache_data(show_spinner=False, max_entries=128)
def _attribution(
    version: tuple[str, int, int],
    image: str,
    method: str,
    target: str | None,
    _picture: Image.Image,
) -> Explanation:
    loaded, lock = _model(version)
    with lock:
        (explanation,) = explain(loaded, [_picture], method, target)
    return explanation


def attribution(
    checkpoint: Path, picture: Image.Image, method: str, target: str | None
) -> Explanation:
    """One method of ``lab.lenses.attribution.METHODS`` on one image, once per checkpoint
    version, image, method and class."""
    return _attribution(file_version(checkpoint), image_key(picture), method, target, picture)


# --- the sections -------------------------------------------------------------------------------


def spaced(picture: np.ndarray) -> np.ndarray:
    """A picture of a row (grey or RGB) with ``MARGIN`` white columns on either side."""
    sides = ((0, 0), (MARGIN, MARGIN)) + ((0, 0),) * (picture.ndim - 2)
    return np.pad(picture, sides, constant_values=255)


def path_table(path: ImagePath) -> pd.DataFrame:
    """One row per stage that changes the size: its name, the size after it, what it does."""
    return pd.DataFrame(
        {
            "stage": [stage.name for stage in path.stages],
            "size after it": [stage.size for stage in path.stages],
            "what it does": [stage.detail for stage in path.stages],
        }
    )


def image_path(name: str, given: tuple[int, int], inside: InsideView) -> None:
    """The image as the network sees it (and the size it was ``given`` at), beside its path
    through the layers."""
    seen, steps = st.columns([1, 3])
    seen.image(
        upscale(inside.picture, PICTURE_SIDE),
        caption=f"{name}, as the network sees it",
        output_format=CRISP,
    )
    side = inside.picture.shape[0]
    if given != (side, side):
        seen.caption(
            f"Resized from {given[0]} x {given[1]} px to {side} px, the size "
            "the network was trained on."
        )
    steps.markdown(f"**{inside.path.summary}**")
    steps.table(path_table(inside.path).set_index("stage"))
    steps.caption(
        "Sizes are channels x height x width. Convolutions look for patterns; pooling (and a "
        "convolution with a stride above 1) shrinks the picture, so each later layer sees "
        "coarser but richer features, until the fully connected layers turn the last maps "
        "into one score per class."
    )


def layer_choice(inside: InsideView) -> LayerMaps:
    """The convolution whose maps are shown (a slider over conv1 ... convN)."""
    titles = [layer.title for layer in inside.layers]
    PICKS.ensure_choice("layer", titles, titles[0])
    title = st.select_slider(
        "Layer",
        titles,
        help="conv1 sees the image itself; each later convolution sees the maps of the one "
        "before it",
        **PICKS.widget("layer"),
    )
    return inside.layer(title)


def feature_maps(layer: LayerMaps) -> None:
    """The strongest channels of one convolution as a grid of enlarged grey maps, on one
    brightness scale: white is the strongest activation among them."""
    # One range for every layer: a slider whose range changes is a new widget to Streamlit,
    # which would drop the count set on another layer.
    wanted = st.slider(
        "Channels shown",
        1,
        MAX_MAPS,
        help="The channels of the layer with the highest mean activation on this image, "
        "strongest first (all of them when the layer has fewer)",
        **PICKS.widget("maps"),
    )
    channels = layer.maps.shape[0]
    shown, maps = layer.strongest(min(wanted, channels))
    peak = float(maps.max(initial=0.0))
    st.image(
        [spaced(upscale(map_picture(feature_map, peak), MAP_SIDE)) for feature_map in maps],
        caption=[f"ch {c} · {layer.means[c]:.2f}" for c in shown],
        output_format=CRISP,
    )
    height, width = layer.maps.shape[1:]
    st.caption(
        f"{len(shown)} of {channels} maps of {layer.title}, {height} x {width} px each, "
        "strongest first (the number is the map's mean activation). Bright: where the "
        "channel's pattern was found; black: nowhere."
    )


def first_layer_filters(checkpoint: Path, loaded: LoadedModel) -> None:
    """The first convolution's kernels as colour tiles."""
    weights = first_filters(loaded.model)
    count, _, height, width = weights.shape
    left, right = st.columns([2, 3])
    left.image(
        _filters(file_version(checkpoint)),
        caption=f"{count} filters of {height}x{width} px",
        output_format=CRISP,
    )
    stretched = (
        "Each tile is stretched to its own range (its lowest weight black, its highest white), "
        "so weak filters show too."
    )
    if not first_filters_learned(loaded.model):
        right.markdown(
            "These filters were not learned. This model's conv1 is a fixed whitening layer: "
            f"before training, its {count // 2} directions (and their negatives) were computed "
            f"from the {height}x{width} patches of the training images, so that the next layer "
            "receives decorrelated inputs, and they stay frozen while the rest trains. " + stretched
        )
        return
    right.markdown(
        "Each tile is one filter of conv1, the pattern it learned to look for in the image: "
        "edges at an angle, colour blobs, stripes. " + stretched
    )
    if height <= 3:
        right.caption(
            f"This model's filters are only {height}x{width} px: they can hold a colour and "
            "an edge's direction, not the striped and blob patterns of the notebook "
            "AlexNet's 11x11 filters."
        )


def channel_responses(
    checkpoint: Path, source: str, dataset: Dataset | None, layer: LayerMaps
) -> None:
    """For a channel of ``layer`` (strongest on this image first), the sampled test images
    that excite it most, after a button press the first time per checkpoint."""
    channels = [int(c) for c in layer.order]
    field = f"channel_{layer.title}"
    PICKS.ensure_choice(field, channels, channels[0])
    channel = st.selectbox(
        f"Channel of {layer.title}",
        channels,
        format_func=lambda c: f"channel {c} (mean {layer.means[c]:.2f} on this image)",
        help="Listed strongest first on the image above",
        **PICKS.widget(field),
    )
    if dataset is None:
        st.caption("Needs the test images: choose a data source in the sidebar.")
        return
    asked = PICKS["ranked"]
    if str(checkpoint) not in asked:
        st.button(
            "Rank the test images",
            icon=":material/travel_explore:",
            help="Passes 2,000 test images through the network once and keeps each channel's "
            "strongest response; kept in the run folder afterwards",
            on_click=PICKS.set,
            args=("ranked", (*asked, str(checkpoint))),
        )
        return
    top = ranking(checkpoint, source, dataset).top(layer.title, channel, TOP_IMAGES)
    st.image(
        [spaced(upscale(chw_to_hwc(dataset.test.images[int(i)]))) for i in top["index"]],
        caption=[f"{row.true} · {row.activation:.2f}" for row in top.itertuples(index=False)],
        output_format=CRISP,
    )
    st.caption(
        f"The {len(top)} test images (of a fixed sample of 2,000) on which channel {channel} "
        f"of {layer.title} responds most strongly anywhere in the image, with that "
        "response. What they share is what the channel looks for."
    )


def attribution_grid(checkpoint: Path, loaded: LoadedModel, picture: Image.Image) -> None:
    """The maps of the attribution methods picked (Grad-CAM by default: it is the quickest)
    for one image and one class, side by side, each with its plain-words caption."""
    target = class_choice(
        st, "Explain the class", loaded.classes, PICKS, "target", "the predicted class"
    )
    picked = st.segmented_control(
        "Methods",
        tuple(METHODS),
        format_func=lambda key: METHODS[key].title,
        selection_mode="multi",
        help="Pick several to compare them side by side",
        **PICKS.widget("methods"),
    )
    summary = st.empty()
    explanation = None
    shown = [method for key, method in METHODS.items() if key in picked]
    for column, method in zip(st.columns(len(METHODS)), shown, strict=False):
        with column, st.spinner(f"{method.title} ..."):
            explanation = attribution(checkpoint, picture, method.key, target)
        column.image(
            upscale(explanation.overlay, PICTURE_SIDE), caption=method.title, output_format=CRISP
        )
        column.caption(method.caption)
    if explanation is None:
        summary.caption("Pick a method above to see where the network found its evidence.")
        return
    summary.markdown(
        f"Explaining **{explanation.target}** ({explanation.target_probability:.1%}); the "
        f"network predicts **{explanation.predicted}** ({explanation.confidence:.1%}, without "
        "test-time flip)."
    )
