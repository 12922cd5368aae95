"""Grad-CAM: which regions of an image drove a class score.

Grad-CAM (Selvaraju et al., 2017) weights each feature map of the last convolutional layer by
the mean gradient of the class score with respect to it, sums the weighted maps, keeps the
positive part and upsamples the result to the input size. As in the paper, the maps are the
*rectified* output of the last convolution (the ReLU after it, past its BatchNorm), which is
what the rest of the network reads. Works for both ``alexnet`` (13x13 maps at 227 px) and
``alexnet_cifar`` (8x8 maps at 32 px), and for any model with a ``Conv2d``.

The computation is Captum's ``LayerGradCam`` (tests/lenses/test_gradcam.py checks it against
the paper's formula); ``heatmaps`` runs any attribution method the same way, and the other
methods (Integrated Gradients, occlusion, saliency) are in ``lab.lenses.attribution``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from PIL import Image
from torch import nn

from lab.checkpoint import LoadedModel
from lab.errors import ConfigError
from lab.lenses.activations import conv_stages
from lab.predict import network_view, preprocess_image

# The "jet" colour map as (position, RGB) anchors: blue for cold, red for hot, as in most
# Grad-CAM figures. Interpolated linearly, so no plotting library is needed.
JET_ANCHORS = (
    (0.0, (0.0, 0.0, 0.5)),
    (0.125, (0.0, 0.0, 1.0)),
    (0.375, (0.0, 1.0, 1.0)),
    (0.625, (1.0, 1.0, 0.0)),
    (0.875, (1.0, 0.0, 0.0)),
    (1.0, (0.5, 0.0, 0.0)),
)


def cam_layer(model: nn.Module) -> str:
    """Name of the module whose output Grad-CAM reads: the ReLU that follows the last
    ``Conv2d`` (BatchNorm in between is skipped), or that ``Conv2d`` when no ReLU follows."""
    return conv_stages(model)[-1].output


@dataclass(frozen=True)
class Heatmaps:
    """Where in each image of a batch one attribution method finds the evidence for a class:
    maps at input resolution, scaled to [0, 1]."""

    heatmaps: np.ndarray  # (N, H, W) float32 in [0, 1]; all 0 when no region supports the class
    targets: np.ndarray  # (N,) class index explained
    predictions: np.ndarray  # (N,) predicted class index
    probabilities: np.ndarray  # (N, C) softmax outputs
    layer: str | None  # name of the module read (Grad-CAM); None for methods on the pixels


# The classes to explain: one for every image, one per image, or None for the predicted ones.
Targets = int | Sequence[int] | None
# An attribution method: (model, images, targets) -> its heatmaps, as ``grad_cam`` does.
Method = Callable[[nn.Module, torch.Tensor, Targets], Heatmaps]
# The raw maps of a method: (float32 input batch with gradients, target classes) -> (N, H, W).
RawMaps = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def heatmaps(
    model: nn.Module,
    images: torch.Tensor,
    targets: Targets,
    raw_maps: RawMaps,
    *,
    scale_percentile: float = 100.0,
    layer: str | None = None,
) -> Heatmaps:
    """Run one attribution method on preprocessed ``images`` (N, 3, H, W) for ``targets``
    (default: the predicted classes) and scale each map so its ``scale_percentile``-th
    percentile is 1 (100: the peak), clipping above.

    The model runs in eval mode in float32 (gradients of bf16 activations are too coarse);
    its training flag is restored and no parameter gradient is left behind (Captum takes
    gradients with ``torch.autograd.grad``).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        # Also works when called under inference_mode (as page code often is).
        with torch.inference_mode(False), torch.enable_grad():
            # An input that needs gradients makes the activations need them, even for a model
            # whose parameters were frozen.
            x = images.detach().to(device, torch.float32).clone().requires_grad_(True)
            with torch.no_grad():
                logits = model(x).float()
            predictions = logits.argmax(dim=1)
            if targets is None:
                target = predictions
            else:
                target = torch.as_tensor(targets, device=device).long().expand(len(x))
            if ((target < 0) | (target >= logits.shape[1])).any():
                raise ConfigError(f"target class must be in 0..{logits.shape[1] - 1}")
            maps = raw_maps(x, target).detach().float()
    finally:
        model.train(was_training)
    flat = maps.flatten(1)
    top = torch.quantile(flat, scale_percentile / 100.0, dim=1) if flat.shape[1] else flat.sum(1)
    top = top.view(-1, 1, 1)
    maps = torch.where(top > 0, maps / top.clamp_min(1e-12), torch.zeros_like(maps))
    return Heatmaps(
        heatmaps=maps.clamp(0, 1).cpu().numpy().astype(np.float32),
        targets=target.cpu().numpy(),
        predictions=predictions.cpu().numpy(),
        probabilities=torch.softmax(logits, dim=1).cpu().numpy(),
        layer=layer,
    )


def grad_cam(
    model: nn.Module,
    images: torch.Tensor,
    targets: Targets = None,
    layer: str | None = None,
) -> Heatmaps:
    """Grad-CAM of preprocessed ``images`` (N, 3, H, W) for ``targets`` (default: predicted),
    by Captum's ``LayerGradCam`` on ``layer`` (default: ``cam_layer``), rectified, upsampled
    bilinearly to the input size and scaled so each image peaks at 1."""
    layer = layer or cam_layer(model)
    module = dict(model.named_modules()).get(layer)
    if module is None:
        raise ConfigError(f"model has no layer named '{layer}'")

    def raw_maps(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cam = LayerGradCam(model, module).attribute(x, target=target, relu_attributions=True)
        size = tuple(x.shape[-2:])
        return LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear")[:, 0]

    return heatmaps(model, images, targets, raw_maps, layer=layer)


def heat_colors(heatmap: np.ndarray) -> np.ndarray:
    """A (H, W) map in [0, 1] as a (H, W, 3) uint8 "jet" picture."""
    h = np.clip(np.asarray(heatmap, dtype=np.float64), 0.0, 1.0)
    positions = [p for p, _ in JET_ANCHORS]
    channels = [np.interp(h, positions, [rgb[c] for _, rgb in JET_ANCHORS]) for c in range(3)]
    return (np.stack(channels, axis=-1) * 255).round().astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a heatmap over an RGB uint8 image (H, W, 3); returns uint8 RGB.

    Colour is mixed in in proportion to the heat, so cold regions keep the original pixels and
    hot ones turn red. A heatmap of another size is resized to the image first.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != image.shape[:2]:
        resized = Image.fromarray(heat).resize(
            (image.shape[1], image.shape[0]), Image.Resampling.BILINEAR
        )
        heat = np.asarray(resized)
    weight = alpha * np.clip(heat, 0.0, 1.0)[..., None]
    blended = (1 - weight) * image.astype(np.float32) + weight * heat_colors(heat)
    return blended.round().clip(0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Explanation:
    """The heatmap of one image, ready to show."""

    picture: np.ndarray  # (H, W, 3) uint8: the input as the network sees it
    heatmap: np.ndarray  # (H, W) float32 in [0, 1]
    overlay: np.ndarray  # (H, W, 3) uint8: heatmap over picture
    target: str  # the class explained
    target_probability: float
    predicted: str
    confidence: float  # probability of the predicted class


def explain_images(
    loaded: LoadedModel,
    images: Sequence[Image.Image],
    target: str | int | None = None,
    alpha: float = 0.6,
    method: Method = grad_cam,
) -> list[Explanation]:
    """Grad-CAM (or another attribution ``method``, see ``lab.lenses.attribution``) of RGB
    images (uploads, or data set images via ``Image.fromarray``) with a loaded checkpoint, for
    the predicted class or ``target`` (a class name or index).

    Images get the checkpoint's test transform (``lab.predict.preprocess_image``); the
    probabilities are those of the plain model, without test-time flip averaging.
    """
    if not images:
        return []
    if isinstance(target, str):
        if target not in loaded.classes:
            raise ConfigError(
                f"unknown class '{target}': choose one of {', '.join(loaded.classes)}"
            )
        target = loaded.classes.index(target)
    batch = torch.stack(
        [preprocess_image(img, loaded.input_size, loaded.mean, loaded.std) for img in images]
    )
    cam = method(loaded.model, batch, target)
    explanations = []
    for i, tensor in enumerate(batch):
        picture = network_view(tensor, loaded.mean, loaded.std)
        t, p = int(cam.targets[i]), int(cam.predictions[i])
        explanations.append(
            Explanation(
                picture=picture,
                heatmap=cam.heatmaps[i],
                overlay=overlay(picture, cam.heatmaps[i], alpha),
                target=loaded.classes[t],
                target_probability=float(cam.probabilities[i, t]),
                predicted=loaded.classes[p],
                confidence=float(cam.probabilities[i, p]),
            )
        )
    return explanations
