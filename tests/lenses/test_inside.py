"""Inside the network: the path's sizes and the feature maps of both models, the filter grid of
a hand-set kernel, and the channel ranking of a toy model whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lab.checkpoint import LoadedModel
from lab.config import ModelConfig
from lab.data import Dataset, ImageSet
from lab.errors import ConfigError
from lab.io import atomic_save
from lab.lenses.activations import conv_stages, sample_indices
from lab.lenses.inside import (
    channel_activations,
    filter_grid,
    first_filters,
    first_filters_learned,
    image_path,
    look_inside,
    map_picture,
)
from lab.models import build_model
from lab.presets import cpu_fast_config, notebook_config

CLASSES = tuple(f"class{i}" for i in range(10))


def loaded_model(model: nn.Module, config, path: Path = Path("x.pt"), stats=(0.5, 0.25)):
    mean, std = stats
    return LoadedModel(model.eval(), config, CLASSES, (mean,) * 3, (std,) * 3, {}, path)


def test_the_notebook_alexnet_path_and_its_feature_maps():
    torch.manual_seed(0)
    loaded = loaded_model(build_model(ModelConfig("alexnet")), notebook_config("data"))
    image = Image.fromarray(np.full((300, 200, 3), 120, np.uint8))
    view = look_inside(loaded, image)
    # The stride-4 stem with padding 2 gives 56 px (the paper's unpadded 224 px gave 55).
    assert view.path.sides == [227, 56, 27, 13, 6]
    assert view.path.summary.startswith("227 → 56 → 27 → 13 → 6 px, then 9216 numbers")
    stages = {stage.name: stage for stage in view.path.stages}
    assert stages["adaptive pool"].shape == (256, 6, 6)
    assert stages["flatten"].shape == (9216,) and stages["flatten"].size == "9216"
    assert stages["fc1"].detail == "9216 numbers in, 4096 out"
    assert stages["conv1"].detail == "64 filters 11x11, stride 4, padding 2"
    assert [stage.name for stage in view.path.stages][-3:] == ["fc1", "fc2", "fc3"]
    assert view.picture.shape == (227, 227, 3)
    shapes = [(maps.title, maps.maps.shape) for maps in view.layers]
    assert shapes == [
        ("conv1", (64, 56, 56)),
        ("conv2", (192, 27, 27)),
        ("conv3", (384, 13, 13)),
        ("conv4", (256, 13, 13)),
        ("conv5", (256, 13, 13)),
    ]


def test_alexnet_cifar_path_and_feature_maps_at_half_width():
    torch.manual_seed(0)
    config = cpu_fast_config("data")
    loaded = loaded_model(build_model(config.model), config)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8))
    view = look_inside(loaded, image)
    assert view.path.sides == [32, 16, 8, 4]
    assert view.path.stages[-1].shape == (10,)
    assert next(s for s in view.path.stages if s.kind == "Flatten").shape == (2048,)
    shapes = [maps.maps.shape for maps in view.layers]
    assert shapes == [(32, 32, 32), (96, 16, 16), (192, 8, 8), (128, 8, 8), (128, 8, 8)]
    conv3 = view.layer("conv3")
    assert conv3.layer == "features.10"  # the ReLU after conv3 and its BatchNorm
    assert (conv3.maps >= 0).all()
    np.testing.assert_allclose(conv3.means, conv3.maps.mean(axis=(1, 2)), rtol=1e-6)
    channels, maps = conv3.strongest(4)
    assert maps.shape == (4, 8, 8)
    assert list(conv3.means[channels]) == sorted(conv3.means, reverse=True)[:4]
    with pytest.raises(ConfigError, match="unknown layer"):
        view.layer("conv9")


def test_the_path_of_a_model_at_another_input_size():
    path = image_path(build_model(ModelConfig("alexnet_cifar", width=0.25)), 64)
    assert path.sides == [64, 32, 16, 8, 4]  # the adaptive pool brings 8 px down to 4


def test_the_whitened_path_keeps_its_global_max_pool_and_agrees_with_its_head():
    path = image_path(build_model(ModelConfig("alexnet_whitened", width=0.125)), 32)
    stages = {stage.name: stage for stage in path.stages}
    names = [stage.name for stage in path.stages]
    assert names[-4:] == ["pool3", "global max-pool", "flatten", "fc1"]
    assert stages["global max-pool"].shape == (32, 1, 1)
    assert stages["global max-pool"].detail == "keeps each map's strongest value: one per channel"
    assert stages["flatten"].shape == (32,)
    assert stages["fc1"].detail == "32 numbers in, 10 out"
    assert path.sides == [32, 31, 15, 7, 3, 1]
    assert path.summary.endswith("px, then 32 numbers into the fully connected layer")


def test_only_the_whitened_first_layer_is_computed_rather_than_learned():
    assert not first_filters_learned(build_model(ModelConfig("alexnet_whitened")))
    assert first_filters_learned(build_model(ModelConfig("alexnet")))
    assert first_filters_learned(build_model(ModelConfig("alexnet_cifar")))


def test_map_picture_scales_to_its_peak_or_a_given_one():
    feature_map = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)
    assert map_picture(feature_map).tolist() == [[0, 64], [128, 255]]
    assert map_picture(feature_map, peak=8.0).tolist() == [[0, 32], [64, 128]]
    assert map_picture(np.zeros((2, 2))).tolist() == [[0, 0], [0, 0]]


def test_the_filter_grid_of_hand_set_kernels():
    kernels = np.zeros((3, 3, 3, 3), np.float32)
    kernels[0, 0, 1, 1] = 1.0  # a red dot in the centre of a black tile
    kernels[1, 2] = -0.5  # blue weights -0.5, red and green 0 ...
    kernels[1, 2, 0, :] = 0.5  # ... and a top row of blue +0.5
    kernels[2] = 0.3  # constant: mid-grey
    grid = filter_grid(kernels, columns=2, gap=1)
    assert grid.shape == (7, 7, 3) and grid.dtype == np.uint8
    red = grid[0:3, 0:3]
    assert red[1, 1].tolist() == [255, 0, 0]
    assert red.sum() == 255
    stripe = grid[0:3, 4:7]
    assert (stripe[0] == [128, 128, 255]).all()  # 0 lies half-way between -0.5 and 0.5
    assert (stripe[1:] == [128, 128, 0]).all()
    assert (grid[4:7, 0:3] == 128).all()
    # The gaps, and the empty fourth tile, keep the background.
    assert (grid[3] == 255).all() and (grid[:, 3] == 255).all() and (grid[4:, 4:] == 255).all()
    with pytest.raises(ConfigError, match="RGB kernels"):
        filter_grid(np.zeros((2, 1, 3, 3)))


def test_first_filters_are_the_first_convolution_weights():
    model = build_model(ModelConfig("alexnet"))
    filters = first_filters(model)
    assert filters.shape == (64, 3, 11, 11)
    np.testing.assert_array_equal(filters, model.features[0].weight.detach().numpy())
    assert filter_grid(filters).shape == (8 * 12 - 1, 8 * 12 - 1, 3)


class ColourChannels(nn.Module):
    """conv1 channel 0 sees red, channel 1 blue (1x1 kernels), then a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, kernel_size=1, bias=False), nn.ReLU())
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 10))
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].weight[0, 0] = 1.0
            self.features[0].weight[1, 2] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def toy_dataset(reds: list[int], blues: list[int]) -> Dataset:
    """Black 32 px images, each with one 4x4 red patch and one 4x4 blue patch of the given
    brightness: the patches' brightness is each image's highest red or blue activation."""
    images = torch.zeros(len(reds), 3, 32, 32, dtype=torch.uint8)
    for i, (red, blue) in enumerate(zip(reds, blues, strict=True)):
        images[i, 0, 2:6, 2:6] = red
        images[i, 2, 20:24, 20:24] = blue
    labels = torch.arange(len(reds)) % 10
    data = ImageSet(images, labels)
    return Dataset("toy", CLASSES, data, data, (0.0,) * 3, (1.0,) * 3)


def test_the_top_images_of_a_channel_are_those_showing_its_colour_brightest(tmp_path):
    reds = [10, 200, 50, 255, 0, 120, 90, 30]
    blues = [250, 0, 60, 10, 180, 240, 20, 100]
    dataset = toy_dataset(reds, blues)
    checkpoint = tmp_path / "best.pt"
    atomic_save({"weights": 1}, checkpoint)
    config = cpu_fast_config("toy")
    loaded = loaded_model(ColourChannels(), config, checkpoint, stats=(0.0, 1.0))
    assert [stage.title for stage in conv_stages(loaded.model)] == ["conv1"]
    calls = []
    found = channel_activations(
        loaded, dataset, progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (8, 8)
    red = found.top("conv1", 0, k=3)
    assert red["index"].tolist() == [3, 1, 5]  # 255, 200, 120
    np.testing.assert_allclose(red["activation"], [1.0, 200 / 255, 120 / 255], rtol=1e-6)
    assert red["true"].tolist() == ["class3", "class1", "class5"]
    assert found.top("conv1", 1, k=2)["index"].tolist() == [0, 5]  # blues 250, 240
    with pytest.raises(ConfigError, match="channels 0..1"):
        found.top("conv1", 2)
    with pytest.raises(ConfigError, match="unknown layer"):
        found.top("conv2", 0)

    # Cached beside the checkpoint: a second call runs nothing ...
    cache = tmp_path / "lenses" / "best.activations.pt"
    assert cache.is_file()
    calls.clear()
    again = channel_activations(loaded, dataset, progress=lambda *done: calls.append(done))
    assert calls == [] and again.top("conv1", 0, k=3)["index"].tolist() == [3, 1, 5]
    # ... until best.pt is written again (a new improvement), or the sample changes.
    atomic_save({"weights": 2}, checkpoint)
    channel_activations(loaded, dataset, progress=lambda *done: calls.append(done))
    assert calls[-1] == (8, 8)
    calls.clear()
    bounded = channel_activations(loaded, dataset, sample=3, progress=lambda *d: calls.append(d))
    assert calls[-1] == (3, 3) and len(bounded.indices) == 3
    assert set(bounded.top("conv1", 0, k=3)["index"]) == set(bounded.indices)


def test_the_sample_is_spread_over_the_split_and_fixed():
    picked = sample_indices(10_000, 2000)
    assert len(picked) == 2000 and len(set(picked)) == 2000
    assert list(picked) == sorted(picked)
    # A folder lists its classes one after the other: every thousand gets its share.
    assert np.bincount(picked // 1000).min() > 150
    assert np.array_equal(picked, sample_indices(10_000, 2000))
    assert sample_indices(5, 2000).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError):
        sample_indices(5, 0)
