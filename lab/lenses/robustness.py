"""Augmentation robustness: how a checkpoint's accuracy and confidence change when every test
image is transformed the same way (rotated by 20 degrees, darkened to half brightness ...).

The transforms are the lab's own (``lab.augment.apply_batch``) with fixed instead of random
parameters, so a sweep shows exactly the distortions that training augmentation would draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pandas as pd
import torch

from lab.augment import apply_batch, eval_config, identity_params
from lab.checkpoint import LoadedModel
from lab.config import AugmentConfig
from lab.data import ImageSet, _stratified_pick
from lab.device import resolve_precision
from lab.errors import ConfigError
from lab.models import predict_logits

# Each transform's parameter: its unit and the value that leaves an image unchanged.
TRANSFORMS = {
    "rotation": ("degrees", 0.0),
    "brightness": ("factor", 1.0),
    "contrast": ("factor", 1.0),
    "saturation": ("factor", 1.0),
    "translate": ("pixels", 0.0),
}
# A sweep for each transform that shows the interesting range at a glance.
DEFAULT_SWEEPS = {
    "rotation": (-90.0, -60.0, -30.0, -15.0, 0.0, 15.0, 30.0, 60.0, 90.0),
    "brightness": (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
    "contrast": (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
    "saturation": (0.0, 0.5, 1.0, 1.5, 2.0),
    "translate": (-8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0),
}
# Padding that translation is drawn from in AugmentConfig terms; only the difference between
# the shift parameters and it matters, so any valid value works.
_TRANSLATE_PAD = 16


def transformed_batch(
    images: torch.Tensor,
    transform: str,
    value: float,
    augment: AugmentConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    input_size: int,
) -> torch.Tensor:
    """A uint8 batch (N, 3, h, w) with one transform applied to every image at ``value``, then
    the test transform of ``augment`` (resized to ``input_size``, normalised).

    ``rotation`` turns counter-clockwise by ``value`` degrees (corners filled with the training
    fill grey); ``brightness``, ``contrast`` and ``saturation`` multiply by the ``value``
    factor; ``translate`` shifts right by ``value`` pixels of the input image (negative: left),
    filling with black.
    """
    _check_transform(transform)
    if TRANSFORMS[transform][0] == "factor" and value < 0:
        raise ConfigError(f"{transform} factor must be >= 0, got {value}")
    resize = None if tuple(images.shape[-2:]) == (input_size, input_size) else input_size
    config = replace(eval_config(augment), resize=resize)
    # Turning a transform on in the config is what makes apply_batch apply it; the strength
    # itself comes from the fixed parameters set below.
    if transform == "rotation":
        config = replace(config, rotation=180.0, rotation_fill=augment.rotation_fill)
    elif transform == "translate":
        config = replace(config, translate=_TRANSLATE_PAD)
    else:
        config = replace(config, **{transform: 1.0})
    n = images.shape[0]
    params = identity_params(config, n, tuple(images.shape[-2:]))
    if transform == "rotation":
        params["angle"].fill_(value)
    elif transform == "translate":
        # The crop offset moves the window, so the picture moves the other way.
        params["dx"] = torch.full((n,), _TRANSLATE_PAD - float(value))
    else:
        params[transform].fill_(value)
    return apply_batch(images, config, params, mean, std)


def robustness_sweep(
    loaded: LoadedModel,
    data: ImageSet,
    transform: str,
    values: Sequence[float] | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 500,
    precision: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Accuracy and mean confidence of ``loaded`` on ``data`` transformed at each value.

    Columns: ``transform``, ``value``, ``accuracy``, ``mean_confidence`` (mean top
    probability). The model runs as in ``lab.evaluate.evaluate_model`` (the run's precision,
    unless ``precision`` asks for another, and its test-time flip), so the identity value
    reproduces the plain accuracy. Every value is a full pass over ``data``; ``limit`` keeps a
    class-stratified subset of that many images (chosen by ``seed``) for a quick sweep.
    ``progress(done, total)`` is called after each value.
    """
    _check_transform(transform)
    values = DEFAULT_SWEEPS[transform] if values is None else values
    if limit is not None and limit < len(data):
        classes = len(loaded.classes)
        if limit < classes:
            raise ConfigError(f"limit must be at least {classes} (one image per class)")
        picked, _ = _stratified_pick(data.labels, limit, seed)
        data = data.take(picked)
    model = loaded.model.eval()
    device = next(model.parameters()).device
    precision = resolve_precision(precision or loaded.precision, device)
    tta_flip = loaded.config.train.tta_flip
    rows = []
    with torch.inference_mode():
        for done, value in enumerate(values, start=1):
            correct, confidence = 0, 0.0
            for start in range(0, len(data), batch_size):
                raw = data.images[start : start + batch_size].to(device)
                labels = data.labels[start : start + batch_size].to(device)
                x = transformed_batch(
                    raw,
                    transform,
                    value,
                    loaded.config.augment,
                    loaded.mean,
                    loaded.std,
                    loaded.input_size,
                )
                logits = predict_logits(
                    model,
                    x.contiguous(memory_format=torch.channels_last),
                    device=device,
                    precision=precision,
                    tta_flip=tta_flip,
                )
                top = torch.softmax(logits, dim=1).max(dim=1)
                correct += int((top.indices == labels).sum())
                confidence += float(top.values.sum())
            count = max(len(data), 1)
            rows.append(
                {
                    "transform": transform,
                    "value": float(value),
                    "accuracy": correct / count,
                    "mean_confidence": confidence / count,
                }
            )
            if progress is not None:
                progress(done, len(values))
    return pd.DataFrame(rows, columns=["transform", "value", "accuracy", "mean_confidence"])


def identity_value(transform: str) -> float:
    """The parameter value at which ``transform`` leaves images unchanged."""
    _check_transform(transform)
    return TRANSFORMS[transform][1]


def _check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform '{transform}': choose one of {', '.join(TRANSFORMS)}")
