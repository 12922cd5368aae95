"""The notebook AlexNet (layer for layer), the CIFAR-native variant and the summary."""

from __future__ import annotations

import pytest
import torch

from lab.config import ModelConfig, check_input_size
from lab.errors import ConfigError
from lab.models import build_model, summarize

# The notebook's nn.Sequential indices: conv and BatchNorm layers in `features`, the three
# Linear layers in `classifier`.
NOTEBOOK_KEYS = [
    *(
        f"features.{i}.{p}"
        for conv, bn in ((0, 1), (4, 5), (8, 9), (11, 12), (14, 15))
        for i, p in [(conv, "weight"), (conv, "bias")]
        + [
            (bn, k)
            for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
        ]
    ),
    *(f"classifier.{i}.{p}" for i in (1, 4, 6) for p in ("weight", "bias")),
]


def test_alexnet_state_dict_keys_are_exactly_the_notebooks():
    model = build_model(ModelConfig("alexnet"))
    assert sorted(model.state_dict()) == sorted(NOTEBOOK_KEYS)
    assert model.state_dict()["features.0.weight"].shape == (64, 3, 11, 11)
    assert model.state_dict()["classifier.1.weight"].shape == (4096, 9216)
    assert model.state_dict()["classifier.4.weight"].shape == (1024, 4096)
    assert model.state_dict()["classifier.6.weight"].shape == (10, 1024)


def test_alexnet_runs_on_channels_last_input():
    model = build_model(ModelConfig("alexnet")).eval().to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 227, 227).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert model(x).shape == (2, 10)


@pytest.mark.parametrize("width", [0.5, 1.0])
def test_alexnet_cifar_takes_32_px_and_scales_with_width(width):
    model = build_model(ModelConfig("alexnet_cifar", width=width), num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 32, 32)).shape == (3, 7)
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)  # other image sizes fit too
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [round(c * width) for c in (64, 192, 384, 256, 256)]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 3


def test_summary_gives_shapes_params_and_flops():
    model = build_model(ModelConfig("alexnet"))
    rows = summarize(model, 227)
    assert rows[0]["output_shape"] == (64, 56, 56)
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())
    flops = sum(r["flops"] for r in rows)
    # The figure: about 4.05 GFLOP per training image, i.e. ~1.35 forward.
    assert 1.25e9 < flops < 1.45e9


def test_too_small_input_is_explained():
    with pytest.raises(ConfigError, match="at least 63 px"):
        check_input_size(ModelConfig("alexnet"), 32)
    check_input_size(ModelConfig("alexnet"), 63)
    with pytest.raises(ConfigError, match="at least 8 px"):
        check_input_size(ModelConfig("alexnet_cifar"), 4)


@pytest.mark.parametrize(
    "kwargs",
    [{"name": "vgg"}, {"name": "alexnet", "width": 0.5}, {"dropout": 1.0}, {"width": 10.0}],
)
def test_model_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        ModelConfig(**kwargs)
