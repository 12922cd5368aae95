"""The learning-rate finder: a sound suggestion on a toy problem, early stop on explosion, and a
range test on a real (tiny) run config that leaves no trace."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from lab.data import load_dataset, make_splits
from lab.errors import ConfigError
from lab.lenses.lr_finder import (
    PLOT_CAP,
    LrFinderResult,
    find_lr,
    lr_range_test,
    smooth,
    suggest,
)
from lab.train import train_one_epoch
from tests.conftest import tiny_config

CPU = torch.device("cpu")


def blobs(n: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian blobs 4 standard deviations apart: logistic regression separates them."""
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn(n, 2, generator=generator)
    x[:, 0] += (2 * y - 1) * 2.0
    return x, y


def batches(x, y, batch_size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield x[index], y[index]


def loss_after_training(lr: float, steps: int = 50) -> float:
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_one_epoch(model, itertools.islice(batches(x, y), steps), optimizer, device=CPU)
    with torch.no_grad():
        return nn.functional.cross_entropy(model(x), y).item()


def range_test(end_lr: float, steps: int = 100, seed: int = 0):
    x, y = blobs()
    torch.manual_seed(seed)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    return lr_range_test(
        model, batches(x, y, seed=seed), optimizer, device=CPU, steps=steps, start_lr=1e-5,
        end_lr=end_lr,
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_suggestion_trains_the_toy_well(seed):
    result = range_test(end_lr=1e3, seed=seed)
    lr = result.suggested_lr
    # On this toy, 50 Adam steps train well from about 0.03 to 1 (see the comparison below).
    assert 1e-2 <= lr <= 1.0
    assert result.min_loss_lr > lr
    good = loss_after_training(lr)
    assert good < loss_after_training(lr / 100) / 4
    assert good < loss_after_training(lr * 100) / 4


def test_the_test_stops_when_the_loss_explodes():
    result = range_test(end_lr=1e3)
    assert result.stopped_early
    assert "exploded" in result.reason
    assert len(result.lrs) < 100 and result.lrs[-1] < 1e3
    assert result.smoothed[-1] > 4 * result.smoothed.min()
    # The rates grow geometrically from the start rate.
    np.testing.assert_allclose(result.lrs[0], 1e-5)
    ratios = result.lrs[1:] / result.lrs[:-1]
    np.testing.assert_allclose(ratios, (1e3 / 1e-5) ** (1 / 99))
    frame = result.frame()
    assert list(frame.columns) == ["lr", "loss", "smoothed"] and len(frame) == len(result.lrs)


def test_a_gentle_range_completes_every_step():
    result = range_test(end_lr=1e-3, steps=30)
    assert not result.stopped_early
    assert result.reason == "completed 30 steps"
    np.testing.assert_allclose(result.lrs[-1], 1e-3)


def test_smoothing_and_suggestion_edge_cases():
    np.testing.assert_allclose(smooth(np.full(5, 2.0)), 2.0)  # bias-corrected: no pull to 0
    assert suggest(np.array([1e-3, 1e-2]), np.array([1.0, 0.9])) == (None, None)
    # A loss that only rises: fall back to a tenth of the rate at the minimum.
    lrs = np.logspace(-5, 0, 20)
    assert suggest(lrs, np.linspace(1, 3, 20)) == (pytest.approx(1e-6), pytest.approx(1e-5))
    with pytest.raises(ConfigError):
        range_test(end_lr=1e-6)  # below the start rate
    with pytest.raises(ConfigError):
        range_test(end_lr=1.0, steps=1)


def test_find_lr_on_a_run_config(tiny_folder):
    config = tiny_config(tiny_folder, precision="fp32")
    splits = make_splits(load_dataset(config.data.source), config.data)
    rng_before = torch.get_rng_state()
    seen = []
    result = find_lr(
        config,
        splits,
        steps=8,
        start_lr=1e-5,
        end_lr=1e-2,
        device=CPU,
        on_step=lambda step, steps, lr, loss: seen.append((step, steps)),
    )
    # 8 steps of 16 images cycle over the 54 training images twice.
    assert len(result.lrs) == len(result.losses) == 8
    assert np.isfinite(result.losses).all()
    assert seen == [(i, 8) for i in range(1, 9)]
    assert torch.equal(rng_before, torch.get_rng_state())
    again = find_lr(config, splits, steps=8, start_lr=1e-5, end_lr=1e-2, device=CPU)
    np.testing.assert_allclose(again.losses, result.losses, rtol=1e-5)  # seeded like fit


def synthetic_result(losses: list[float]) -> LrFinderResult:
    lrs = np.logspace(-6, 1, len(losses))
    values = np.asarray(losses, dtype=float)
    smoothed = smooth(values)
    suggested, at_min = suggest(lrs, smoothed)
    return LrFinderResult(lrs, values, smoothed, suggested, at_min, True, "exploded")


def test_the_plot_drops_the_divergence_and_caps_the_axis_near_the_minimum():
    # Flat at 2.3, falling to 0.5, then exploding to 500: the explosion must not set the scale.
    losses = [2.3] * 30 + list(np.linspace(2.3, 0.5, 40)) + [0.6, 1.0, 5.0, 50.0, 500.0, 500.0]
    result = synthetic_result(losses)
    frame, (low, high) = result.informative_view()
    floor = result.smoothed.min()
    assert frame["loss"].max() < 50  # the steps past divergence are gone
    assert len(frame) < len(losses)
    assert low == 0.0 and high == pytest.approx(PLOT_CAP * floor)  # the fall fills the axis
    assert frame["lr"].is_monotonic_increasing and frame.index[0] == 0


def test_a_range_test_that_never_diverged_keeps_every_step():
    losses = list(np.linspace(2.3, 1.0, 50))
    frame, (_, high) = synthetic_result(losses).informative_view()
    assert len(frame) == 50 and high == pytest.approx(2.3, rel=0.05)
