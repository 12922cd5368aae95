"""Grad-CAM: Captum's maps equal the paper's formula, the heat sits where the evidence is,
shapes match both models, overlays blend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from lab.checkpoint import LoadedModel
from lab.config import ModelConfig
from lab.errors import ConfigError
from lab.lenses.gradcam import cam_layer, explain_images, grad_cam, heat_colors, overlay
from lab.models import build_model
from lab.presets import cpu_fast_config


class RedBlue(nn.Module):
    """Class 0 = amount of red, class 1 = amount of blue, read from 16x16 feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 2, kernel_size=2, stride=2, bias=False), nn.ReLU()
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].weight[0, 0] = 0.25  # channel 0 averages red
            self.features[0].weight[1, 2] = 0.25  # channel 1 averages blue

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def red_and_blue_image() -> torch.Tensor:
    image = torch.zeros(1, 3, 32, 32)
    image[0, 0, 2:10, 2:10] = 1.0  # a red square top left (64 px)
    image[0, 2, 18:30, 18:30] = 1.0  # a larger blue square bottom right (144 px)
    return image


def test_heat_peaks_where_the_class_evidence_is():
    model, image = RedBlue(), red_and_blue_image()
    blue = grad_cam(model, image)  # blue covers more: the predicted class
    assert blue.predictions.tolist() == [1] and blue.targets.tolist() == [1]
    assert blue.layer == "features.1"
    red = grad_cam(model, image, targets=0)
    assert red.targets.tolist() == [0]
    for cam, inside, outside in ((red, (5, 5), (24, 24)), (blue, (24, 24), (5, 5))):
        heat = cam.heatmaps[0]
        assert heat.shape == (32, 32)
        assert heat[inside] == pytest.approx(1.0)
        assert heat[outside] == 0.0
        peak = np.unravel_index(heat.argmax(), heat.shape)
        assert heat[peak] == pytest.approx(heat[inside])
    # Away from both squares there is no evidence for either class.
    assert red.heatmaps[0][2:10, 20:30].max() == 0.0


def paper_grad_cam(model: nn.Module, images: torch.Tensor, targets: list[int]) -> np.ndarray:
    """Grad-CAM written out from Selvaraju et al.: the mean gradient of the class score over
    each map of the layer weights that map; the weighted sum is rectified, upsampled
    bilinearly and scaled to peak at 1."""
    layer = dict(model.named_modules())[cam_layer(model)]
    captured = []
    handle = layer.register_forward_hook(lambda _m, _i, output: captured.append(output))
    try:
        logits = model(images.clone().requires_grad_(True))
        score = logits.gather(1, torch.tensor(targets).view(-1, 1)).sum()
        (gradients,) = torch.autograd.grad(score, captured[0])
    finally:
        handle.remove()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * captured[0]).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, cam / peak, 0.0).detach().numpy()


@pytest.mark.parametrize(("name", "size"), [("alexnet_cifar", 32), ("alexnet", 227)])
def test_captum_layer_grad_cam_gives_the_papers_maps(name, size):
    torch.manual_seed(0)
    config = ModelConfig(name, width=0.25 if name == "alexnet_cifar" else 1.0)
    model = build_model(config).eval()
    images = torch.randn(4, 3, size, size)
    targets = [1, 4, 7, 9]
    cam = grad_cam(model, images, targets=targets)
    expected = paper_grad_cam(model, images, targets)
    assert (expected.max(axis=(1, 2)) == 1.0).sum() >= 2  # most maps are not empty
    np.testing.assert_allclose(cam.heatmaps, expected, atol=1e-5)


def test_the_cam_layer_is_the_rectified_last_convolution():
    for config in (ModelConfig("alexnet"), ModelConfig("alexnet_cifar", width=0.25)):
        model = build_model(config)
        name = cam_layer(model)
        modules = dict(model.named_modules())
        assert isinstance(modules[name], nn.ReLU)
        last_conv = max(i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d))
        assert name == f"features.{last_conv + 2}"  # conv, BatchNorm, ReLU
    bare = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    assert cam_layer(bare) == "0"
    with pytest.raises(ConfigError, match="no convolutional layer"):
        cam_layer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))


@pytest.mark.parametrize(
    ("name", "width", "size"), [("alexnet_cifar", 0.25, 32), ("alexnet", 1.0, 227)]
)
def test_grad_cam_on_both_models(name, width, size):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name, width=width)).train()
    images = torch.randn(2, 3, size, size)
    cam = grad_cam(model, images, targets=[3, 7])
    assert cam.heatmaps.shape == (2, size, size)
    assert cam.heatmaps.dtype == np.float32
    assert np.isfinite(cam.heatmaps).all()
    assert cam.heatmaps.min() >= 0.0 and cam.heatmaps.max() <= 1.0
    assert cam.targets.tolist() == [3, 7]
    assert cam.probabilities.shape == (2, 10)
    np.testing.assert_allclose(cam.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # The model is left as found: still in training mode, no gradients on its weights.
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_grad_cam_runs_under_inference_mode_and_checks_targets():
    model = RedBlue()
    with torch.inference_mode():
        image = red_and_blue_image()
        cam = grad_cam(model, image, targets=0)
    assert cam.heatmaps[0][5, 5] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="target class"):
        grad_cam(model, red_and_blue_image(), targets=2)
    with pytest.raises(ConfigError, match="no layer named"):
        grad_cam(model, red_and_blue_image(), layer="head")


def test_overlay_blends_in_proportion_to_heat():
    image = np.full((4, 4, 3), 200, dtype=np.uint8)
    heat = np.zeros((4, 4), dtype=np.float32)
    heat[0, 0] = 1.0
    blended = overlay(image, heat, alpha=1.0)
    assert blended.dtype == np.uint8 and blended.shape == (4, 4, 3)
    assert blended[0, 0].tolist() == [128, 0, 0]  # the hottest colour
    assert (blended[1:, 1:] == 200).all()  # cold pixels keep the picture
    assert heat_colors(np.array([[0.0, 0.5]])).tolist() == [[[0, 0, 128], [128, 255, 128]]]
    # A low-resolution heatmap is resized to the picture.
    assert overlay(np.zeros((32, 32, 3), np.uint8), np.ones((8, 8), np.float32)).shape == (
        32,
        32,
        3,
    )
    with pytest.raises(ConfigError):
        overlay(image, heat, alpha=1.5)
    with pytest.raises(ValueError):
        overlay(image[..., 0], heat)


def test_explain_images_for_a_checkpoint():
    config = cpu_fast_config("data").with_overrides(model={"width": 0.25})
    torch.manual_seed(0)
    model = build_model(config.model).eval()
    classes = tuple(f"class{i}" for i in range(10))
    loaded = LoadedModel(model, config, classes, (0.5,) * 3, (0.25,) * 3, {}, Path("x.pt"))
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(2)]
    explained = explain_images(loaded, images, target="class4")
    assert len(explained) == 2
    for item in explained:
        assert item.picture.shape == item.overlay.shape == (32, 32, 3)
        assert item.heatmap.shape == (32, 32)
        assert item.target == "class4"
        assert 0.0 <= item.target_probability <= item.confidence <= 1.0
        assert item.predicted in classes
    predicted = explain_images(loaded, images[:1])[0]
    assert predicted.target == predicted.predicted
    assert explain_images(loaded, []) == []
    with pytest.raises(ConfigError, match="unknown class"):
        explain_images(loaded, images, target="cow")
