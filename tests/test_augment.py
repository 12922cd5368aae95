"""The batched augmentation agrees with the per-image torchvision reference."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from lab.augment import (
    apply_batch,
    apply_reference,
    describe_params,
    identity_params,
    preprocess_batch,
    sample_params,
)
from lab.config import AugmentConfig
from lab.errors import ConfigError

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def smooth_image(size: int = 32) -> torch.Tensor:
    """A smooth uint8 image (3, size, size): interpolation methods differ little on it."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    image = torch.stack([xx, yy, xx * yy]) * 3
    return ((image.sin() * 0.5 + 0.5) * 255).round().to(torch.uint8)


PARITY_CONFIGS = [
    AugmentConfig(resize=227, hflip_p=0.5, rotation=15.0),  # the notebook's set
    AugmentConfig(translate=4, hflip_p=0.5),
    AugmentConfig(translate=4, rotation=30.0, rotation_fill=128, hflip_p=0.5),
    AugmentConfig(resize=64, brightness=0.4, contrast=0.4, saturation=0.4),
    AugmentConfig(resize=48, erase_p=1.0, hflip_p=0.0),
]


@pytest.mark.parametrize("config", PARITY_CONFIGS)
def test_batched_matches_reference_for_the_same_parameters(config):
    image = smooth_image()
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    generator = torch.Generator().manual_seed(1)
    params = sample_params(config, 6, (32, 32), generator)
    batch = apply_batch(image.unsqueeze(0).repeat(6, 1, 1, 1), config, params, MEAN, STD)
    for i in range(6):
        reference = apply_reference(pil, config, params, i, MEAN, STD)
        assert batch[i].shape == reference.shape
        diff = (batch[i] - reference).abs() * torch.tensor(STD).view(3, 1, 1)  # in pixel units
        assert diff.mean() < 0.01, describe_params(params, i)
        assert diff.quantile(0.99) < 0.03, describe_params(params, i)


def test_rotation_direction_and_fill_match_torchvision():
    """An off-centre dot must land where torchvision puts it, corners get the fill value."""
    image = torch.zeros(3, 32, 32, dtype=torch.uint8)
    image[:, 4:8, 20:24] = 255
    config = AugmentConfig(rotation=90.0, rotation_fill=200, hflip_p=0.0)
    params = identity_params(config, 1, (32, 32))
    params["angle"][0] = 90.0
    batch = apply_batch(image.unsqueeze(0), config, params, (0, 0, 0), (1, 1, 1))[0]
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    reference = apply_reference(pil, config, params, 0, (0, 0, 0), (1, 1, 1))
    assert torch.equal(batch.mean(0).flatten().argmax(), reference.mean(0).flatten().argmax())
    params["angle"][0] = 45.0
    rotated = apply_batch(image.unsqueeze(0), config, params, (0, 0, 0), (1, 1, 1))[0]
    assert rotated[:, 0, 0].allclose(torch.full((3,), 200 / 255))


def test_each_sample_draws_its_own_parameters():
    config = AugmentConfig(hflip_p=0.5, rotation=15.0, translate=4)
    images = smooth_image().unsqueeze(0).repeat(64, 1, 1, 1)
    params = sample_params(config, 64, (32, 32), torch.Generator().manual_seed(0))
    out = apply_batch(images, config, params, MEAN, STD)
    assert len(set(params["angle"].tolist())) == 64
    assert 0 < params["flip"].sum() < 64
    assert len({tuple(x.flatten()[:200].tolist()) for x in out}) == 64


def test_drawn_parameters_follow_the_configured_distributions():
    config = AugmentConfig(hflip_p=0.3, rotation=15.0, translate=4, brightness=0.2, erase_p=0.5)
    params = sample_params(config, 20_000, (32, 32), torch.Generator().manual_seed(0))
    angle = params["angle"]
    assert angle.min() >= -15 and angle.max() <= 15
    assert abs(angle.mean()) < 0.3
    assert abs(angle.std() - 15 / math.sqrt(3)) < 0.2  # uniform on [-15, 15]
    assert abs(params["flip"].float().mean() - 0.3) < 0.02
    assert set(params["dx"].unique().tolist()) == set(range(9))
    assert params["brightness"].min() >= 0.8 and params["brightness"].max() <= 1.2
    assert abs(params["erase"].float().mean() - 0.5) < 0.02
    area = (params["erase_h"] * params["erase_w"]).float() / (32 * 32)
    assert area.min() > 0.0 and area.max() <= 0.5
    assert (params["erase_top"] + params["erase_h"]).max() <= 32


def test_identity_parameters_equal_the_test_transform():
    config = AugmentConfig(resize=64, hflip_p=0.5, rotation=10.0, translate=2)
    images = smooth_image().unsqueeze(0).repeat(2, 1, 1, 1)
    identity = apply_batch(images, config, identity_params(config, 2, (32, 32)), MEAN, STD)
    plain = preprocess_batch(images, config, MEAN, STD)
    assert identity.shape == plain.shape == (2, 3, 64, 64)
    assert (identity - plain).abs().max() < 1e-4


def test_normalisation_uses_the_given_statistics():
    images = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    out = preprocess_batch(images, AugmentConfig(), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert torch.allclose(out, torch.full_like(out, 2.0))


def test_config_round_trips_through_json():
    config = AugmentConfig(resize=227, rotation=15.0, brightness=0.2)
    assert AugmentConfig.from_dict(json.loads(config.to_json())) == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hflip_p": 1.5}, "hflip_p"),
        ({"rotation": -1}, "rotation"),
        ({"resize": 4}, "resize"),
        ({"translate": 40}, "translate"),
        ({"brightness": 2.0}, "brightness"),
        ({"rotation_fill": 300}, "rotation_fill"),
    ],
)
def test_config_rejects_out_of_range_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AugmentConfig(**kwargs)


def test_unknown_settings_name_the_valid_ones():
    with pytest.raises(ConfigError, match="valid are"):
        AugmentConfig.from_dict({"rotate": 10})
