"""Attribution methods: each finds the evidence where a toy model reads it, on both models the
maps have the input's shape and range, and every method carries its caption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_gradcam import RedBlue, red_and_blue_image

from lab.checkpoint import LoadedModel
from lab.config import ModelConfig
from lab.errors import ConfigError
from lab.lenses.attribution import METHODS, explain
from lab.models import build_model
from lab.presets import cpu_fast_config

RED_CENTRE, BLUE_CENTRE = (5, 5), (24, 24)


@pytest.mark.parametrize("key", sorted(METHODS))
def test_each_method_finds_each_class_in_its_own_square(key):
    model, image = RedBlue(), red_and_blue_image()
    compute = METHODS[key].compute
    red, blue = compute(model, image, 0), compute(model, image, 1)
    assert red.targets.tolist() == [0] and blue.targets.tolist() == [1]
    assert red.predictions.tolist() == [1]  # blue covers more of the image
    for maps, inside, outside in ((red, RED_CENTRE, BLUE_CENTRE), (blue, BLUE_CENTRE, RED_CENTRE)):
        heat = maps.heatmaps[0]
        assert heat.shape == (32, 32) and heat.dtype == np.float32
        assert heat[inside] > 0.5
        assert heat[outside] == 0.0


@pytest.mark.parametrize("key", sorted(METHODS))
def test_each_method_on_alexnet_cifar(key):
    torch.manual_seed(0)
    model = build_model(ModelConfig("alexnet_cifar", width=0.25)).train()
    maps = METHODS[key].compute(model, torch.randn(2, 3, 32, 32), [3, 7])
    assert maps.heatmaps.shape == (2, 32, 32)
    assert np.isfinite(maps.heatmaps).all()
    assert maps.heatmaps.min() >= 0.0 and maps.heatmaps.max() <= 1.0
    assert maps.probabilities.shape == (2, 10)
    # The model is left as found: in training mode, no gradients on its weights.
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_every_method_has_a_caption_that_says_what_it_shows_and_where_it_misleads():
    assert sorted(METHODS) == ["gradcam", "integrated_gradients", "occlusion", "saliency"]
    titles = [method.title for method in METHODS.values()]
    assert len(set(titles)) == len(titles)
    for key, method in METHODS.items():
        assert method.key == key
        assert method.shows.startswith("Shows") and len(method.misleads) > 40
        assert method.caption == f"{method.shows} {method.misleads}"


def test_explain_with_a_method_by_name():
    config = cpu_fast_config("data").with_overrides(model={"width": 0.25})
    torch.manual_seed(0)
    classes = tuple(f"class{i}" for i in range(10))
    loaded = LoadedModel(
        build_model(config.model).eval(), config, classes, (0.5,) * 3, (0.25,) * 3, {}, Path("x")
    )
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8))
    (explained,) = explain(loaded, [image], "saliency", target="class2")
    assert explained.target == "class2" and explained.heatmap.shape == (32, 32)
    assert explained.overlay.shape == (32, 32, 3)
    with pytest.raises(ConfigError, match="unknown attribution method 'lime'"):
        explain(loaded, [image], "lime")
