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
    assert result.suggestion.verdict == "falls"
    lr = result.suggestion.lr
    # On this toy, 50 Adam steps train well from about 0.03 to 1 (see the comparison below).
    assert 1e-2 <= lr <= 1.0
    assert result.suggestion.min_loss_lr > lr
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


# Hand-made range tests of 60 steps from 1e-7 to 10, as the Train page runs them.
STEPS = 60
RATES = np.logspace(-7, 1, STEPS)
NOISE = np.random.default_rng(0).normal(0.0, 1.0, STEPS)


def fall(before: int, during: int, start: float, end: float) -> list[float]:
    """Flat at ``start`` for ``before`` steps, then down to ``end`` over ``during`` steps."""
    return [start] * before + list(np.linspace(start, end, during + 1)[1:])


CURVES = {
    "flat": [2.3026] * STEPS,
    "noisy-flat": list(2.30 + 0.1 * NOISE),
    # What the tester saw: 60 steps from 2.30 to 2.24, with a little noise.
    "barely-moving": list(np.linspace(2.30, 2.24, STEPS) + 0.02 * NOISE),
    "rising": list(np.linspace(2.3, 3.5, STEPS)),
    "falling": list(np.asarray(fall(25, 20, 2.3, 1.2) + [1.2] * 15) + 0.03 * NOISE),
    "falling-then-exploding": fall(25, 20, 2.3, 1.0) + list(np.geomspace(1.0, 12.0, 15)),
    # Flat over nearly the whole range, falling only in its last steps (the suggestion would be
    # the range's edge, 5.4 of a range ending at 10).
    "edge": fall(55, 5, 2.3, 1.4),
}


@pytest.mark.parametrize(
    ("curve", "verdict", "suggested"),
    [
        ("flat", "flat", None),
        ("noisy-flat", "flat", None),
        ("barely-moving", "flat", None),
        ("rising", "flat", None),
        ("falling", "falls", (RATES[25], RATES[45])),
        ("falling-then-exploding", "falls", (RATES[25], RATES[45])),
        ("edge", "edge", None),
    ],
)
def test_a_rate_is_suggested_only_where_the_loss_falls_inside_the_range(curve, verdict, suggested):
    losses = np.asarray(CURVES[curve])
    advice = suggest(RATES, losses)
    assert advice.verdict == verdict, advice.words
    if suggested is None:
        assert advice.lr is None
        assert "no rate to suggest" in advice.words
    else:
        low, high = suggested
        assert low <= advice.lr <= high  # inside the stretch where the loss falls
        assert advice.lr < advice.min_loss_lr
        assert "falls fastest" in advice.words


def test_the_words_say_how_little_a_flat_loss_moved():
    advice = suggest(RATES, np.asarray(CURVES["barely-moving"]))
    assert advice.words.startswith("The loss did not fall")
    assert "2.30" in advice.words  # where it started


def test_the_words_of_a_fall_at_the_edge_name_the_end_of_the_range():
    advice = suggest(RATES, np.asarray(CURVES["edge"]))
    assert "end of the range" in advice.words and "1.0e1" in advice.words


def test_smoothing_and_suggestion_edge_cases():
    np.testing.assert_allclose(smooth(np.full(5, 2.0)), 2.0)  # bias-corrected: no pull to 0
    few = suggest(np.array([1e-3, 1e-2]), np.array([1.0, 0.9]))
    assert (few.verdict, few.lr, few.min_loss_lr) == ("few steps", None, None)
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
    return LrFinderResult(lrs, values, smoothed, suggest(lrs, values), True, "exploded")


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
