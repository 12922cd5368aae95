"""Inside the network: an image's path through the layers, the feature maps of every
convolution, the first layer's filters, and the test images that excite a channel most.

* ``image_path`` lists the stages that change the size of what flows through the network, with
  that size: for the notebook's AlexNet 227 -> 56 -> 27 -> 13 -> 6 px, the 6x6 adaptive pool
  and the 9216 numbers the first fully connected layer reads; for ``alexnet_cifar`` 32 -> 16
  -> 8 -> 4 px.
* ``look_inside`` runs one image and keeps the rectified output of every convolution
  (``LayerMaps``), its channels ranked by mean activation; ``map_picture`` turns a map into a
  grey picture at its own resolution, for the app to enlarge pixel by pixel.
* ``filter_grid`` lays the first convolution's kernels out as colour tiles, like the figure
  of the AlexNet paper (Krizhevsky et al., 2012); ``first_filters_learned`` tells learned
  kernels from a frozen stem computed from the data.
* ``channel_activations`` scores a bounded sample of test images (2,000 by default) on every
  channel of every convolution once per checkpoint, cached in the run folder
  (``lab.lenses.activations``); ``ChannelActivations.top`` then answers "what does this
  channel respond to" for any layer and channel at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from lab.checkpoint import LoadedModel
from lab.data import Dataset, Progress
from lab.errors import ConfigError
from lab.lenses.activations import (
    DEFAULT_SAMPLE,
    SampleCache,
    conv_stages,
    recording,
    run_over,
    sample_indices,
)
from lab.models import summarize
from lab.predict import network_view, preprocess_image

# The layers that change the size of what flows through the network; BatchNorm, ReLU and
# Dropout keep it.
SIZE_CHANGING = ("Conv2d", "MaxPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Linear")
# The stage names of the layers that are numbered (conv1, pool2, fc1 ...).
NUMBERED = {"Conv2d": "conv", "MaxPool2d": "pool", "Linear": "fc"}
ACTIVATIONS_KIND = "activations"


# --- the path through the layers ----------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One step of the image's path: a layer that changes the size, and the size after it."""

    name: str  # "input", "conv1", "pool1", "adaptive pool", "flatten", "fc1", ...
    layer: str  # the module's name ("features.0"); "" for the input and the flatten
    kind: str  # the module's class, or "Input" / "Flatten"
    shape: tuple[int, ...]  # (channels, height, width), or (numbers,) after the flatten
    detail: str  # what the step does, in a few words

    @property
    def size(self) -> str:
        """The shape as "64 x 56 x 56" or "9216"."""
        return " x ".join(str(side) for side in self.shape)


@dataclass(frozen=True)
class ImagePath:
    """The stages an image passes, from the input to the class scores."""

    model: str
    stages: tuple[Stage, ...]

    @property
    def sides(self) -> list[int]:
        """The side in pixels after each stage that changes it: [227, 56, 27, 13, 6]."""
        sides: list[int] = []
        for stage in self.stages:
            if len(stage.shape) == 3 and (not sides or sides[-1] != stage.shape[-1]):
                sides.append(stage.shape[-1])
        return sides

    @property
    def summary(self) -> str:
        """The path in one line: "227 → 56 → 27 → 13 → 6 px, then 9216 numbers into ..."."""
        flatten = next(stage for stage in self.stages if stage.kind == "Flatten")
        linear = sum(stage.kind == "Linear" for stage in self.stages)
        head = "the first fully connected layer" if linear > 1 else "the fully connected layer"
        return " → ".join(str(side) for side in self.sides) + (
            f" px, then {flatten.shape[0]} numbers into {head}"
        )


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        (kh, kw), (stride, _), (padding, _) = module.kernel_size, module.stride, module.padding
        return f"{module.out_channels} filters {kh}x{kw}, stride {stride}, padding {padding}"
    if isinstance(module, nn.MaxPool2d):
        return f"max of each {module.kernel_size}x{module.kernel_size}, stride {module.stride}"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "averages down to a fixed grid, whatever the input size"
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return "keeps each map's strongest value: one per channel"
    return f"{module.in_features} numbers in, {module.out_features} out"


def image_path(model: nn.Module, input_size: int, model_name: str = "") -> ImagePath:
    """The size-changing stages of ``model`` for an input of ``input_size`` px (from
    ``lab.models.summarize``), with the flatten before the first fully connected layer."""
    modules = dict(model.named_modules())
    stages = [Stage("input", "", "Input", (3, input_size, input_size), "the image, RGB")]
    counts: dict[str, int] = {}
    pooled = {"AdaptiveAvgPool2d": "adaptive pool", "AdaptiveMaxPool2d": "global max-pool"}
    for row in summarize(model, input_size):
        kind = row["type"]
        if kind not in SIZE_CHANGING:
            continue
        before = stages[-1].shape
        if kind == "Linear" and len(before) == 3:
            stages.append(
                Stage(
                    "flatten",
                    "",
                    "Flatten",
                    (math.prod(before),),
                    f"{stages[-1].size} maps laid out as one row of numbers",
                )
            )
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{NUMBERED[kind]}{counts[kind]}" if kind in NUMBERED else pooled[kind]
        stages.append(
            Stage(name, row["layer"], kind, row["output_shape"], _describe(modules[row["layer"]]))
        )
    return ImagePath(model_name or type(model).__name__, tuple(stages))


# --- feature maps of one image ------------------------------------------------------------------


@dataclass(frozen=True)
class LayerMaps:
    """The rectified output of one convolution for one image."""

    title: str  # "conv1"
    layer: str  # the module read ("features.2")
    maps: np.ndarray  # (channels, H, W) float32, >= 0 after the ReLU
    means: np.ndarray  # (channels,) mean activation of each map
    order: np.ndarray  # (channels,) channel indices, strongest mean first

    def strongest(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` channels with the highest mean activation and their maps."""
        channels = self.order[: max(0, count)]
        return channels, self.maps[channels]


@dataclass(frozen=True)
class InsideView:
    """One image inside one network: its path and the feature maps of every convolution."""

    picture: np.ndarray  # (H, W, 3) uint8: the input as the network sees it
    path: ImagePath
    layers: tuple[LayerMaps, ...]

    def layer(self, title: str) -> LayerMaps:
        for maps in self.layers:
            if maps.title == title:
                return maps
        raise ConfigError(
            f"unknown layer '{title}': choose one of {', '.join(m.title for m in self.layers)}"
        )


def look_inside(loaded: LoadedModel, image: Image.Image) -> InsideView:
    """Run one RGB image through the checkpoint's network (its test transform, float32) and
    keep the feature maps of every convolution."""
    stages = conv_stages(loaded.model)
    tensor = preprocess_image(image, loaded.input_size, loaded.mean, loaded.std)
    device = next(loaded.model.parameters()).device
    reducers = {stage.output: lambda _inputs, output: output for stage in stages}
    with recording(loaded.model, reducers) as outputs:
        loaded.model(tensor[None].to(device))
    layers = []
    for stage in stages:
        maps = outputs[stage.output][0][0].numpy()
        means = maps.mean(axis=(1, 2))
        order = np.argsort(-means, kind="stable")
        layers.append(LayerMaps(stage.title, stage.output, maps, means, order))
    return InsideView(
        picture=network_view(tensor, loaded.mean, loaded.std),
        path=image_path(loaded.model, loaded.input_size, loaded.config.model.name),
        layers=tuple(layers),
    )


def map_picture(feature_map: np.ndarray, peak: float | None = None) -> np.ndarray:
    """A (H, W) feature map as a grey uint8 picture at its own resolution, black at 0 and white
    at ``peak`` (default: the map's own maximum; pass a layer's maximum to compare channels)."""
    values = np.asarray(feature_map, dtype=np.float32)
    top = float(values.max(initial=0.0)) if peak is None else float(peak)
    if top <= 0:
        return np.zeros(values.shape, dtype=np.uint8)
    return (np.clip(values / top, 0.0, 1.0) * 255).round().astype(np.uint8)


# --- the first layer's filters ------------------------------------------------------------------


def _first_conv(model: nn.Module) -> nn.Conv2d:
    return dict(model.named_modules())[conv_stages(model)[0].conv]


def first_filters(model: nn.Module) -> np.ndarray:
    """The first convolution's kernels, (filters, 3, k, k) float32."""
    return _first_conv(model).weight.detach().float().cpu().numpy()


def first_filters_learned(model: nn.Module) -> bool:
    """Whether training set the first convolution's kernels. False for a frozen stem, as
    ``alexnet_whitened``'s: its kernels are computed from the training images' patches
    (``lab.models.init_whitening``) and never change."""
    return _first_conv(model).weight.requires_grad


def filter_grid(
    weights: np.ndarray, columns: int = 8, gap: int = 1, background: int = 255
) -> np.ndarray:
    """RGB kernels (filters, 3, k, k) as one (H, W, 3) uint8 picture: ``columns`` tiles a row,
    ``gap`` pixels of ``background`` between them. Each kernel is stretched to the full range
    on its own (its lowest weight black, its highest white, colour by colour as the weights
    are), so weak filters show their pattern too; a constant kernel is mid-grey."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 4 or weights.shape[1] != 3:
        raise ConfigError(f"filter_grid needs RGB kernels (filters, 3, k, k), got {weights.shape}")
    count, _, height, width = weights.shape
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    grid = np.full(
        (rows * (height + gap) - gap, columns * (width + gap) - gap, 3), background, np.uint8
    )
    low = weights.min(axis=(1, 2, 3), keepdims=True)
    span = weights.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = np.where(span > 0, (weights - low) / np.where(span > 0, span, 1), 0.5)
    tiles = (scaled * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        grid[top : top + height, left : left + width] = tile
    return grid


# --- what a channel responds to -----------------------------------------------------------------


@dataclass(frozen=True)
class ChannelActivations:
    """How strongly each sampled test image excites every channel of every convolution: the
    channel's highest activation anywhere in the image (a pattern counts wherever it is)."""

    indices: np.ndarray  # (N,) positions of the sampled images in the test split
    labels: np.ndarray  # (N,) their true classes
    classes: tuple[str, ...]
    layers: dict[str, np.ndarray]  # "conv1" -> (N, channels) float32

    def top(self, layer: str, channel: int, k: int = 9) -> pd.DataFrame:
        """The ``k`` sampled test images that excite ``channel`` of ``layer`` most, strongest
        first: ``index`` (position in the test split), ``activation``, ``true``."""
        if layer not in self.layers:
            raise ConfigError(f"unknown layer '{layer}': choose one of {', '.join(self.layers)}")
        scores = self.layers[layer]
        if not 0 <= channel < scores.shape[1]:
            raise ConfigError(f"{layer} has channels 0..{scores.shape[1] - 1}, not {channel}")
        order = np.argsort(-scores[:, channel], kind="stable")[:k]
        classes = np.asarray(self.classes, dtype=object)
        return pd.DataFrame(
            {
                "index": self.indices[order],
                "activation": scores[order, channel],
                "true": classes[self.labels[order]],
            }
        )


def channel_activations(
    loaded: LoadedModel,
    dataset: Dataset,
    *,
    sample: int = DEFAULT_SAMPLE,
    progress: Progress | None = None,
    cache: bool = True,
) -> ChannelActivations:
    """Score ``sample`` test images on every channel of every convolution; cached beside the
    checkpoint (``lab.lenses.activations``), so only the first call per checkpoint runs the
    network and reports ``progress(done, total)``."""
    stages = conv_stages(loaded.model)
    indices = sample_indices(len(dataset.test), sample)
    store = SampleCache(loaded, dataset, ACTIVATIONS_KIND, indices, enabled=cache)
    arrays = store.read()
    if arrays is None:
        reducers = {
            stage.output: lambda _inputs, output: output.amax(dim=(2, 3)) for stage in stages
        }
        scores, _ = run_over(
            loaded, dataset.test.images[torch.as_tensor(indices)], reducers, progress=progress
        )
        arrays = {stage.title: scores[stage.output] for stage in stages}
        store.write(arrays)
    return ChannelActivations(
        indices=indices,
        labels=dataset.test.labels[torch.as_tensor(indices)].numpy(),
        classes=tuple(dataset.classes),
        layers={stage.title: arrays[stage.title] for stage in stages},
    )
