"""The Classify page's pieces: the images to classify (uploads, a camera photo, a random test
image), an uploaded checkpoint and why it cannot be used, whether flip averaging is on, the
classification, how one result is drawn, and its Grad-CAM explanation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from app import cache, charts
from app.glossary import TERMS
from app.images import image_key, upscale
from app.state.classify import PICKS
from app.widgets import class_choice, error_box
from lab.checkpoint import LoadedModel
from lab.data import Dataset
from lab.errors import LabError
from lab.lenses import insight
from lab.predict import (
    SHOWN_SIDE,
    Prediction,
    network_view,
    open_image,
    predict_images,
    preprocess_image,
)
from lab.uploads import upload_store

TOP_K = 5
# Pixels every picture of a result is shown at (a caption's length must not change its size).
SIDE = 160


@dataclass(frozen=True)
class Picture:
    """One image to classify: its name, the decoded image or why it could not be decoded, and
    its true class when it is known (a test image)."""

    name: str
    image: Image.Image | None
    error: str | None = None
    true_label: str | None = None


@dataclass(frozen=True)
class Classified:
    """One image's outcome: its prediction and what the network saw, or why it was refused."""

    picture: Picture
    seen: np.ndarray | None  # the preprocessed input, de-normalised to a picture
    prediction: Prediction | None


def stored_upload(name: str, data: bytes) -> Path:
    """An uploaded checkpoint in the process's private upload folder (``lab.uploads``): named by
    its content, so the same upload maps to the same path and its loaded model is reused from
    the cache; called on every rerun, so the content is checked against its hash each time."""
    return upload_store().save(name, data)


def checkpoint_problem(error: LabError, path: Path, shown_as: str | None) -> str:
    """Why a checkpoint cannot be used, in one sentence that names an upload as the user
    named it, never by where the server keeps it."""
    text = str(error)
    if shown_as is None:
        return f"Cannot use this checkpoint: {text}"
    for where in {str(path.resolve()), str(path)}:
        text = text.replace(where, shown_as)
    return f"Cannot use {shown_as}: {text}"


def flip_averaging(loaded: LoadedModel) -> str:
    """Whether the checkpoint scores with flip averaging, which every probability here uses."""
    if loaded.config.train.tta_flip:
        return (
            "Flip averaging is on for this checkpoint: every probability below averages the "
            "image and its mirror image."
        )
    return "Flip averaging is off for this checkpoint: each image is classified as it is."


def network_input(loaded: LoadedModel, image: Image.Image) -> np.ndarray:
    """The image exactly as the network receives it (resized, normalised), as a picture."""
    tensor = preprocess_image(image, loaded.input_size, loaded.mean, loaded.std)
    return network_view(tensor, loaded.mean, loaded.std)


@st.cache_data(show_spinner=False, max_entries=64)
def decoded(name: str, data: bytes) -> Image.Image:
    """An upload decoded once, and kept at most ``SHOWN_SIDE`` px on its longer side: the page
    shows it at 160 px and the network reads at most 227, so a photo's full size would only
    hold the server's memory."""
    return open_image(data, name, max_side=SHOWN_SIDE)


def uploaded_images(uploads: list[tuple[str, bytes]]) -> list[Picture]:
    """Uploaded files decoded (``decoded``), in their order (names may repeat); a file that
    cannot be decoded gets its reason instead."""
    pictures = []
    for name, data in uploads:
        try:
            pictures.append(Picture(name, decoded(name, data)))
        except LabError as error:
            pictures.append(Picture(name, None, str(error)))
    return pictures


def classify(loaded: LoadedModel, pictures: list[Picture]) -> list[Classified]:
    """Top-5 predictions of the decoded pictures, in one batch, in their order."""
    decoded = [picture for picture in pictures if picture.image is not None]
    predictions = iter(predict_images(loaded, [p.image for p in decoded], top_k=TOP_K))
    return [
        Classified(picture, network_input(loaded, picture.image), next(predictions))
        if picture.image is not None
        else Classified(picture, None, None)
        for picture in pictures
    ]


def random_test_image(dataset: Dataset) -> int:
    """Index of a random image of the test split."""
    return int(np.random.default_rng().integers(len(dataset.test)))


def test_image(dataset: Dataset, index: int) -> Picture:
    """Test image ``index`` with its true class."""
    pixels = dataset.test.images[index].permute(1, 2, 0).numpy()
    true_label = dataset.classes[int(dataset.test.labels[index])]
    return Picture(f"test image {index}", Image.fromarray(pixels), true_label=true_label)


def render(result: Classified) -> None:
    """The input, what the network saw, and the top-5 probabilities of one image."""
    picture, prediction = result.picture, result.prediction
    if picture.error:
        error_box(st, picture.error, ":material/broken_image:")
        return
    original, seen, chart = st.columns([1, 1, 2])
    original.image(
        upscale(np.asarray(picture.image), SIDE), caption=f"{picture.name} as given", width=SIDE
    )
    seen.image(
        upscale(result.seen, SIDE),
        width=SIDE,
        caption=f"as the network sees it ({result.seen.shape[1]} px, normalised)",
    )
    verdict = f"Top-1: **{prediction.label}** · {prediction.confidence:.1%}"
    if picture.true_label is not None:
        mark = ":green[right]" if picture.true_label == prediction.label else ":red[wrong]"
        verdict += f" · true label **{picture.true_label}** ({mark})"
    chart.markdown(verdict)
    chart.altair_chart(charts.top_k(prediction.labels, prediction.probabilities), width="stretch")


# --- the Grad-CAM explanation ------------------------------------------------------------------


def cam_target(loaded: LoadedModel) -> str | None:
    """The class Grad-CAM explains (None: the predicted one), chosen above the results."""
    return class_choice(
        st, "Grad-CAM explains", loaded.classes, PICKS, "cam_target", "the predicted class"
    )


def explain_prediction(
    checkpoint: Path, loaded: LoadedModel, result: Classified, target: str | None
) -> None:
    """The unsure hint (when the model is unsure) and the Grad-CAM overlay of one image, for
    ``target`` or else the top-1 class, with the probability the top-5 chart gives it (the same
    flip averaging)."""
    image, prediction = result.picture.image, result.prediction
    probabilities = prediction.all_probabilities
    hint = insight.unsure_message(probabilities, loaded.classes)
    if hint:
        st.warning(hint, icon=":material/help:")
    explained = target or prediction.label
    try:
        (explanation,) = cache.explained(
            checkpoint, [image], ("upload", image_key(image)), explained
        )
    except LabError as error:
        st.caption(f"No Grad-CAM: {error}")
        return
    probability = probabilities[loaded.classes.index(explained)]
    overlay, note = st.columns([1, 3], vertical_alignment="center")
    overlay.image(
        upscale(explanation.overlay, SIDE),
        caption=f"Grad-CAM for {explained} ({probability:.1%})",
        width=SIDE,
    )
    note.caption(
        "Red regions raised the score of the explained class the most; blue ones did not "
        "(Grad-CAM on the last convolutional layer, of the image as it is).",
        help=TERMS["Grad-CAM"],
    )
