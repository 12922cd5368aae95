"""Attribution methods besides Grad-CAM, through Captum, each with a caption in plain words.

Four ways to ask "which parts of this image made the network say this class?", all returning
``lab.lenses.gradcam.Heatmaps`` (maps at input resolution in [0, 1]) so one view shows any of
them, and all usable with ``lab.lenses.gradcam.explain_images(..., method=...)``:

* ``gradcam``: Grad-CAM on the last convolution (``lab.lenses.gradcam.grad_cam``);
* ``integrated_gradients``: Integrated Gradients (Sundararajan et al., 2017) from a plain image
  of the training images' average colour (zero after normalisation) to the image;
* ``occlusion``: the drop of the class score when a grey patch hides each part of the image
  (Zeiler & Fergus, 2014);
* ``saliency``: the size of the class score's gradient at each pixel (Simonyan et al., 2014).

``METHODS`` holds each one with its title and its caption (what it shows, where it misleads),
as data for the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from captum.attr import IntegratedGradients, Occlusion, Saliency
from PIL import Image
from torch import nn

from lab.checkpoint import LoadedModel
from lab.errors import ConfigError
from lab.lenses.gradcam import (
    Explanation,
    Heatmaps,
    Method,
    Targets,
    explain_images,
    grad_cam,
    heatmaps,
)

# Steps of the path integral: the attributions' sum matches the score difference to within a
# few per cent from about 30 steps on these networks; more only costs time.
IG_STEPS = 32
# Pixel-level maps are spiky: a handful of pixels would take the whole colour scale. Scaling
# to the 99th percentile (and clipping above it) keeps the rest visible.
PIXEL_PERCENTILE = 99.0
# The occluding patch is a quarter of the image's side and slides by half its size: 7x7
# positions, so a 32 px image needs 49 forward passes and a 227 px one 49 as well.
OCCLUSION_FRACTION = 4
OCCLUSION_BATCH = 16


def integrated_gradients(
    model: nn.Module, images: torch.Tensor, targets: Targets = None
) -> Heatmaps:
    """The part of the class score each pixel earns on the straight path from the average
    colour to the image; only pixels that raise the score are shown."""

    def raw_maps(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        attributions = IntegratedGradients(model).attribute(
            x, baselines=0.0, target=target, n_steps=IG_STEPS, internal_batch_size=IG_STEPS
        )
        return attributions.sum(dim=1).clamp_min(0)

    return heatmaps(model, images, targets, raw_maps, scale_percentile=PIXEL_PERCENTILE)


def occlusion(model: nn.Module, images: torch.Tensor, targets: Targets = None) -> Heatmaps:
    """How much the class score falls when a patch of the average colour hides each region;
    regions whose hiding raises the score count as 0."""

    def raw_maps(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        side = max(1, x.shape[-1] // OCCLUSION_FRACTION)
        stride = max(1, side // 2)
        attributions = Occlusion(model).attribute(
            x,
            sliding_window_shapes=(x.shape[1], side, side),
            strides=(x.shape[1], stride, stride),
            baselines=0.0,
            target=target,
            perturbations_per_eval=OCCLUSION_BATCH,
        )
        # The patch covers every colour channel at once, so the channels hold the same value.
        return attributions.mean(dim=1).clamp_min(0)

    return heatmaps(model, images, targets, raw_maps)


def saliency(model: nn.Module, images: torch.Tensor, targets: Targets = None) -> Heatmaps:
    """The largest gradient of the class score over the colour channels of each pixel."""

    def raw_maps(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return Saliency(model).attribute(x, target=target, abs=True).amax(dim=1)

    return heatmaps(model, images, targets, raw_maps, scale_percentile=PIXEL_PERCENTILE)


@dataclass(frozen=True)
class AttributionMethod:
    """One attribution method for a view: its function and its caption in plain words."""

    key: str
    title: str
    shows: str  # what the map shows
    misleads: str  # where it misleads
    compute: Method

    @property
    def caption(self) -> str:
        return f"{self.shows} {self.misleads}"


METHODS: dict[str, AttributionMethod] = {
    method.key: method
    for method in (
        AttributionMethod(
            "gradcam",
            "Grad-CAM",
            "Shows the regions of the last convolution's maps that raise the class score: "
            "where the network found the evidence, as a coarse blob.",
            "It is as coarse as that layer (8x8 or 13x13 cells stretched over the image), so it "
            "says where, not which edge or texture; and a blob on the background can be real: "
            "the network may use the sky to call a plane.",
            grad_cam,
        ),
        AttributionMethod(
            "integrated_gradients",
            "Integrated Gradients",
            "Shows how much each pixel adds to the class score when the image fades in from a "
            "plain image of the average colour: fine detail, pixel by pixel.",
            "Pixels close to the average colour get little credit however much they matter, "
            "the map changes with that choice of starting image, and its speckle looks more "
            "precise than the network's reasoning is.",
            integrated_gradients,
        ),
        AttributionMethod(
            "occlusion",
            "Occlusion",
            "Shows how far the class score falls when a grey patch hides each part of the "
            "image: a direct experiment, no gradients involved.",
            "It is only as sharp as the patch (a quarter of the image), and hiding a part also "
            "adds a grey square the network never saw in training, which can move the score by "
            "itself; evidence spread over several parts shows weakly.",
            occlusion,
        ),
        AttributionMethod(
            "saliency",
            "Saliency",
            "Shows the pixels where a tiny change would move the class score most: the "
            "gradient of the score with respect to the image.",
            "Sensitive is not important: the gradient describes the score near this exact "
            "image, is noisy, and often lights up edges whatever the class.",
            saliency,
        ),
    )
}


def explain(
    loaded: LoadedModel,
    images: Sequence[Image.Image],
    method: str = "gradcam",
    target: str | int | None = None,
    alpha: float = 0.6,
) -> list[Explanation]:
    """``explain_images`` with the method named by its key in ``METHODS``."""
    if method not in METHODS:
        raise ConfigError(
            f"unknown attribution method '{method}': choose one of {', '.join(METHODS)}"
        )
    return explain_images(loaded, images, target, alpha, method=METHODS[method].compute)
