"""Augmentation robustness: fixed transforms do what they say, and the identity value of every
sweep reproduces the checkpoint's plain accuracy."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from lab import runs
from lab.checkpoint import load_model
from lab.config import AugmentConfig
from lab.data import load_dataset
from lab.errors import ConfigError
from lab.evaluate import evaluate_model
from lab.lenses.robustness import (
    DEFAULT_SWEEPS,
    TRANSFORMS,
    identity_value,
    robustness_sweep,
    transformed_batch,
)

RAW = AugmentConfig(hflip_p=0.0, normalize=False)
NO_STATS = ((0.0,) * 3, (1.0,) * 3)


@pytest.fixture(scope="module")
def checkpoint(tiny_run, tmp_path_factory):
    loaded = load_model(runs.resolve_checkpoint(tiny_run))
    # Module-scoped: the per-test cache fixture is not active yet, so name its folder.
    cache = tmp_path_factory.getbasetemp() / "cache"
    return loaded, load_dataset(loaded.config.data.source, cache_dir=cache).test


def pattern(size: int = 32) -> torch.Tensor:
    """An asymmetric uint8 picture, so any flip or wrong direction shows."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (1, 3, size, size), generator=generator, dtype=torch.uint8)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_the_identity_value_changes_nothing(transform):
    images = pattern()
    out = transformed_batch(images, transform, identity_value(transform), RAW, *NO_STATS, 32)
    torch.testing.assert_close(out, images.float() / 255, atol=1e-5, rtol=0)


def test_translate_shifts_right_and_fills_black():
    images = pattern()
    out = transformed_batch(images, "translate", 3, RAW, *NO_STATS, 32)
    torch.testing.assert_close(out[..., 3:], images[..., :-3].float() / 255, atol=1e-5, rtol=0)
    assert (out[..., :3] == 0).all()
    left = transformed_batch(images, "translate", -3, RAW, *NO_STATS, 32)
    torch.testing.assert_close(left[..., :-3], images[..., 3:].float() / 255, atol=1e-5, rtol=0)


def test_rotation_matches_torchvision():
    images = pattern()
    out = transformed_batch(images, "rotation", 90, RAW, *NO_STATS, 32)
    expected = TF.rotate(images[0], 90.0, InterpolationMode.NEAREST).float() / 255
    torch.testing.assert_close(out[0], expected, atol=1e-4, rtol=0)


def test_brightness_scales_and_resize_reaches_the_input_size():
    images = torch.full((2, 3, 32, 32), 100, dtype=torch.uint8)
    out = transformed_batch(images, "brightness", 0.5, RAW, *NO_STATS, 64)
    assert out.shape == (2, 3, 64, 64)
    torch.testing.assert_close(out, torch.full_like(out, 50 / 255))


def test_bad_transforms_are_refused():
    with pytest.raises(ConfigError, match="unknown transform 'blur'"):
        transformed_batch(pattern(), "blur", 1.0, RAW, *NO_STATS, 32)
    with pytest.raises(ConfigError, match="must be >= 0"):
        transformed_batch(pattern(), "contrast", -0.5, RAW, *NO_STATS, 32)
    assert set(DEFAULT_SWEEPS) == set(TRANSFORMS)
    for transform, values in DEFAULT_SWEEPS.items():
        assert identity_value(transform) in values


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_identity_reproduces_the_plain_accuracy(checkpoint, transform):
    loaded, test = checkpoint
    plain = evaluate_model(loaded, test, precision="fp32")
    frame = robustness_sweep(loaded, test, transform, [identity_value(transform)], precision="fp32")
    assert frame["accuracy"].item() == plain.accuracy
    assert frame["mean_confidence"].item() == pytest.approx(
        plain.probabilities.max(axis=1).mean(), abs=1e-5
    )


def test_a_black_picture_carries_no_information(checkpoint):
    loaded, test = checkpoint
    calls = []
    frame = robustness_sweep(
        loaded,
        test,
        "brightness",
        [0.0, 1.0],
        batch_size=7,
        precision="fp32",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert frame["transform"].tolist() == ["brightness", "brightness"]
    assert frame["value"].tolist() == [0.0, 1.0]
    # All images identical: one prediction for all, right for exactly one class in three.
    assert frame["accuracy"].iloc[0] == pytest.approx(1 / 3)
    assert calls == [(1, 2), (2, 2)]


def test_limit_sweeps_a_stratified_subset(checkpoint):
    loaded, test = checkpoint
    frame = robustness_sweep(loaded, test, "rotation", [0.0, 180.0], limit=6, precision="fp32")
    assert len(frame) == 2
    assert all(round(a * 6, 9).is_integer() for a in frame["accuracy"])
    with pytest.raises(ConfigError, match="at least 3"):
        robustness_sweep(loaded, test, "rotation", limit=2)
    with pytest.raises(ConfigError, match="unknown transform"):
        robustness_sweep(loaded, test, "blur")


@pytest.mark.precision
@pytest.mark.parametrize("trained_in", ["fp32", "bf16"])
def test_the_sweep_runs_in_the_runs_own_precision_unless_asked(checkpoint, trained_in):
    loaded, test = checkpoint
    run = replace(loaded, config=loaded.config.with_overrides(train={"precision": trained_in}))
    other = "bf16" if trained_in == "fp32" else "fp32"

    def confidence(**precision) -> float:
        frame = robustness_sweep(run, test, "brightness", [1.0], **precision)
        return frame["mean_confidence"].item()

    assert confidence() == confidence(precision=trained_in)
    assert confidence() != confidence(precision=other)
