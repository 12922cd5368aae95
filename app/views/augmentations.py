"""The Augmentations page's pieces: the switches and settings of the transforms, the images to
augment, K random draws of each with the parameters they used, and loading a JSON config into
the controls."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from PIL import Image

from app.images import tensor_picture, upscale
from app.settings import control
from app.state import augment
from app.state.augment import CONTROLS, PIPELINE, switch
from lab.augment import apply_reference, describe_params, sample_params
from lab.codegen import augmentation_section
from lab.config import AugmentConfig, declaration
from lab.data import Dataset
from lab.errors import ConfigError, LabError
from lab.predict import network_view, open_image

# The uploader of a JSON config (a file, not a setting: its key only names it).
JSON_UPLOAD = CONTROLS.key("json_upload")
# Uploaded photos are shrunk to this side for the preview: the transforms are the same, and a
# 12-megapixel photo would take seconds per draw.
PREVIEW_SIDE = 256


def transform_controls() -> None:
    """The pipeline's steps in their order: a switch per transform with its settings beneath,
    and the normalisation's own toggle."""
    for step in PIPELINE:
        if isinstance(step, str):
            control(st, declaration("augment", step), CONTROLS)
            continue
        on = st.toggle(step.label, **CONTROLS.widget(switch(step)))
        for name in (step.setting, *step.extra):
            control(st, declaration("augment", name), CONTROLS, disabled=not on)


@dataclass(frozen=True)
class Source:
    """One image to augment, with a title for its row."""

    title: str
    image: Image.Image


def dataset_images(dataset: Dataset, count: int, seed: int, class_name: str | None) -> list[Source]:
    """``count`` random training images, of one class when ``class_name`` is given."""
    labels = dataset.train.labels.numpy()
    pool = (
        np.flatnonzero(labels == dataset.classes.index(class_name))
        if class_name
        else np.arange(len(labels))
    )
    picked = np.random.default_rng(seed).choice(pool, size=min(count, len(pool)), replace=False)
    return [
        Source(
            f"{dataset.classes[labels[i]]} (training image {i})",
            Image.fromarray(dataset.train.images[i].permute(1, 2, 0).numpy()),
        )
        for i in picked
    ]


def uploaded_images(files: list) -> tuple[list[Source], list[str]]:
    """Decoded uploads (shrunk for the preview) and one message per file that was refused."""
    sources, errors = [], []
    for file in files:
        try:
            image = open_image(file.getvalue(), file.name, max_side=PREVIEW_SIDE)
        except LabError as error:
            errors.append(str(error))
            continue
        sources.append(Source(file.name, image))
    return sources, errors


def original(source: Source) -> np.ndarray:
    """The untouched image, enlarged like the draws beside it."""
    return upscale(np.asarray(source.image))


def describe(config: AugmentConfig, params: dict, index: int) -> tuple[str, str]:
    """What one draw did, for the transforms that are switched on: a caption short enough for
    the narrow column under the image (its first two changes), and the whole of it."""
    p = describe_params(params, index)
    parts: list[tuple[str, str]] = []  # (short, full); short is "" for "nothing happened"
    if config.hflip_p:
        parts.append(("flip", "flipped") if p["flip"] else ("", "not flipped"))
    if config.rotation:
        parts.append((f"{round(p['angle']):+d}°", f"angle {p['angle']:+.1f}°"))  # never -0°
    if config.translate:
        dx, dy = p["dx"] - config.translate, p["dy"] - config.translate
        parts.append((f"{dx:+d},{dy:+d} px", f"offset ({dx:+d}, {dy:+d}) px"))
    for name in ("brightness", "contrast", "saturation"):
        if getattr(config, name):
            parts.append((f"{name[0]}×{p[name]:.2f}", f"{name} ×{p[name]:.2f}"))
    if config.erase_p:
        erased = f"erased {p['erase_h']}x{p['erase_w']} px"
        parts.append(("erased", erased) if p["erase"] else ("", "not erased"))
    changes = [short for short, _ in parts if short]
    caption = " ".join(changes[:2]) + (" …" if len(changes) > 2 else "")
    return caption or "unchanged", " · ".join(full for _, full in parts) or "no random transform"


def caption(container, short: str, details: str) -> None:
    """A one-line caption under an image whose details show on hover (a tooltip of the
    browser's own: a help icon would not fit the narrow column)."""
    container.caption(
        f'<span title="{html.escape(details)}">{html.escape(short)}</span>',
        unsafe_allow_html=True,
    )


def draws(
    source: Source,
    config: AugmentConfig,
    count: int,
    seed: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    show_tensor: bool,
) -> list[tuple[np.ndarray, str, str]]:
    """``count`` random draws of ``config`` on one image: (picture, short caption, the whole
    description) each."""
    size = (source.image.height, source.image.width)
    params = sample_params(config, count, size, torch.Generator().manual_seed(seed))
    out = []
    for index in range(count):
        tensor = apply_reference(source.image, config, params, index, mean, std)
        if show_tensor and config.normalize:
            picture = tensor_picture(tensor)
        elif config.normalize:
            picture = network_view(tensor, mean, std)
        else:
            picture = (tensor.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        out.append((upscale(picture), *describe(config, params, index)))
    return out


def load_json_upload() -> None:
    """Callback of the JSON uploader: move the controls to the uploaded config."""
    file = st.session_state.get(JSON_UPLOAD)
    if file is None:
        return
    try:
        values = json.loads(file.getvalue().decode("utf-8"))
        if not isinstance(values, dict):
            raise ConfigError("the file must hold a JSON object of augmentation settings")
        config = AugmentConfig.from_dict(values)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        augment.set_message("error", f"{file.name} is not valid JSON: {error}")
        return
    except (ConfigError, TypeError) as error:
        augment.set_message("error", f"{file.name}: {error}")
        return
    augment.load(config)
    augment.set_message("success", f"Loaded the settings of {file.name}.")


def pipeline_code(config: AugmentConfig) -> None:
    """The augmentation as the Train page's standalone script writes it: its settings and the
    training and test ``transforms.Compose``, a switched-off transform commented out."""
    st.markdown("**In PyTorch**, as the script of a run with this augmentation writes it")
    st.caption(
        "`mean` and `std` are the training images' own, computed a step earlier in the script."
    )
    st.code(augmentation_section(config).code, language="python")
