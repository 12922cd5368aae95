"""The notebook AlexNet (layer for layer), the CIFAR-native variant and the summary."""

from __future__ import annotations

import pytest
import torch

from lab.config import ModelConfig, check_input_size
from lab.errors import ConfigError
from lab.models import build_model, init_whitening, summarize

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


def test_alexnet_whitened_is_five_conv_layers_with_batchnorm_relu_pools_and_a_linear_head():
    model = build_model(ModelConfig("alexnet_whitened", width=0.5, dropout=0.0)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert model(torch.randn(1, 3, 9, 9)).shape == (1, 10)  # its smallest input
    layers = list(model.features)
    convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 32, 128, 128, 128]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in layers) == 5
    assert sum(isinstance(m, torch.nn.ReLU) for m in layers) == 5
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in layers) == 3
    assert [type(m) for m in model.classifier][-1] is torch.nn.Linear
    # The stem is fixed and BatchNorm learns shifts only: neither is handed to the optimizer.
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert "features.0.weight" in frozen and "features.1.weight" in frozen
    assert "features.1.bias" not in frozen


def test_whitening_stem_decorrelates_the_patches_it_was_computed_from():
    torch.manual_seed(0)
    model = build_model(ModelConfig("alexnet_whitened", width=0.25))
    # Correlated channels, like the colours of real images.
    base = torch.randn(64, 1, 16, 16)
    images = torch.cat([base, 0.8 * base + 0.2 * torch.randn_like(base), -base], dim=1)
    init_whitening(model, images)
    stem = model.features[0]
    out = torch.nn.functional.conv2d(images, stem.weight)
    half = out[:, : stem.out_channels // 2].permute(0, 2, 3, 1).reshape(-1, stem.out_channels // 2)
    covariance = half.T @ half / len(half)
    off_diagonal = covariance - torch.diag(covariance.diag())
    assert off_diagonal.abs().max() < 1e-3
    # The second half of the filters are the negatives of the first (ReLU keeps both signs).
    assert torch.equal(stem.weight[12:], -stem.weight[:12])
