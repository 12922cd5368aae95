"""The Classify page's pieces: the checkpoint to use, the classification of uploads and of a
random test image, how one result is drawn, and its Grad-CAM explanation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from app import cache, charts
from app.images import upscale
from app.state.classify import PICKS
from app.widgets import class_choice
from lab.checkpoint import LoadedModel
from lab.data import Dataset
from lab.errors import LabError
from lab.lenses import insight
from lab.predict import Prediction, network_view, open_image, predict_images, preprocess_image
from lab.uploads import upload_store

TOP_K = 5


@dataclass(frozen=True)
class Classified:
    """One image's outcome: its prediction and what the network saw, or why it was refused."""

    name: str
    image: Image.Image | None
    seen: np.ndarray | None  # the preprocessed input, de-normalised to a picture
    prediction: Prediction | None
    error: str | None = None


def stored_upload(name: str, data: bytes) -> Path:
    """An uploaded checkpoint in the process's private upload folder (``lab.uploads``): named by
    its content, so the same upload maps to the same path and its loaded model is reused from
    the cache; called on every rerun, so the content is checked against its hash each time."""
    return upload_store().save(name, data)


def network_input(loaded: LoadedModel, image: Image.Image) -> np.ndarray:
    """The image exactly as the network receives it (resized, normalised), as a picture."""
    tensor = preprocess_image(image, loaded.input_size, loaded.mean, loaded.std)
    return network_view(tensor, loaded.mean, loaded.std)


def classify(loaded: LoadedModel, named_images: list[tuple[str, Image.Image]]) -> list[Classified]:
    """Top-5 predictions of decoded images, in one batch."""
    predictions = predict_images(loaded, [image for _, image in named_images], top_k=TOP_K)
    return [
        Classified(name, image, network_input(loaded, image), prediction)
        for (name, image), prediction in zip(named_images, predictions, strict=True)
    ]


def classify_uploads(loaded: LoadedModel, uploads: list[tuple[str, bytes]]) -> list[Classified]:
    """Decode and classify uploaded files, in their order (names may repeat); a file that
    cannot be decoded gets its reason instead."""
    decoded: list[tuple[int, str, Image.Image]] = []
    results: list[Classified | None] = []
    for name, data in uploads:
        try:
            decoded.append((len(results), name, open_image(data, name)))
            results.append(None)
        except LabError as error:
            results.append(Classified(name, None, None, None, str(error)))
    classified = classify(loaded, [(name, image) for _, name, image in decoded])
    for (position, _, _), result in zip(decoded, classified, strict=True):
        results[position] = result
    return results


def random_test_image(dataset: Dataset) -> int:
    """Index of a random image of the test split."""
    return int(np.random.default_rng().integers(len(dataset.test)))


def test_image(dataset: Dataset, index: int) -> tuple[Image.Image, str]:
    """Test image ``index`` and its true class."""
    pixels = dataset.test.images[index].permute(1, 2, 0).numpy()
    return Image.fromarray(pixels), dataset.classes[int(dataset.test.labels[index])]


def render(result: Classified, true_label: str | None = None) -> None:
    """The input, what the network saw, and the top-5 probabilities of one image."""
    if result.error:
        st.error(result.error, icon=":material/broken_image:")
        return
    prediction = result.prediction
    original, seen, chart = st.columns([1, 1, 2])
    original.image(upscale(np.asarray(result.image)), caption=f"{result.name} as uploaded")
    seen.image(
        upscale(result.seen),
        caption=f"as the network sees it ({result.seen.shape[1]} px, normalised)",
    )
    verdict = f"Top-1: **{prediction.label}** · {prediction.confidence:.1%}"
    if true_label is not None:
        mark = ":green[right]" if true_label == prediction.label else ":red[wrong]"
        verdict += f" · true label **{true_label}** ({mark})"
    chart.markdown(verdict)
    chart.altair_chart(charts.top_k(prediction.labels, prediction.probabilities), width="stretch")


# --- the Grad-CAM explanation ------------------------------------------------------------------


def image_key(image: Image.Image) -> str:
    """What identifies an image in the Grad-CAM cache: a hash of its pixels."""
    pixels = np.asarray(image.convert("RGB"))
    return hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()[:20]


def cam_target(loaded: LoadedModel) -> str | None:
    """The class Grad-CAM explains (None: the predicted one), chosen above the results."""
    return class_choice(
        st, "Grad-CAM explains", loaded.classes, PICKS, "cam_target", "the predicted class"
    )


def explain_prediction(
    checkpoint: Path,
    loaded: LoadedModel,
    image: Image.Image,
    probabilities: np.ndarray,
    target: str | None,
) -> None:
    """The unsure hint (when the model is unsure) and the Grad-CAM overlay of one image."""
    hint = insight.unsure_message(probabilities, loaded.classes)
    if hint:
        st.warning(hint, icon=":material/help:")
    try:
        (explanation,) = cache.explained(checkpoint, [image], ("upload", image_key(image)), target)
    except LabError as error:
        st.caption(f"No Grad-CAM: {error}")
        return
    overlay, note = st.columns([1, 3], vertical_alignment="center")
    overlay.image(
        upscale(explanation.overlay),
        caption=f"Grad-CAM for {explanation.target} ({explanation.target_probability:.1%})",
    )
    note.caption(
        "Red regions raised the score of the explained class the most; blue ones did not "
        "(Grad-CAM on the last convolutional layer, without test-time flip)."
    )
