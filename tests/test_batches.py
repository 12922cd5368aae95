"""The batch feeds: a seeded order covering the epoch once, and progressive resizing."""

from __future__ import annotations

import pytest
import torch

from lab.batches import epoch_batches, epoch_image_size, fast_batches, usable_batch_size
from lab.config import TrainConfig
from lab.data import load_dataset, make_splits
from lab.distributed import DistContext
from tests.conftest import tiny_config


def test_fast_batches_cover_the_epoch_once_in_a_seeded_order(tiny_folder):
    dataset = load_dataset(tiny_folder)
    config = tiny_config(tiny_folder)

    def labels(seed):
        batches = fast_batches(
            dataset.train,
            config.augment,
            dataset.mean,
            dataset.std,
            batch_size=10,
            device=torch.device("cpu"),
            generator=torch.Generator().manual_seed(seed),
        )
        return torch.cat([y for _, y in batches])

    first = labels(0)
    assert sorted(first.tolist()) == sorted(dataset.train.labels.tolist())
    assert torch.equal(first, labels(0)) and not torch.equal(first, labels(1))


def test_a_final_batch_of_one_is_dropped():
    assert usable_batch_size(65, 64) == 64
    assert usable_batch_size(66, 64) == 66


@pytest.mark.parametrize(
    ("start", "epochs", "sides"),
    [
        (0, 3, [32, 32, 32]),  # off
        (16, 3, [16, 24, 32]),
        (24, 2, [24, 32]),
        (12, 5, [12, 17, 22, 27, 32]),
        (16, 1, [32]),  # a single epoch is the last one: full size
        (40, 3, [32, 32, 32]),  # a start above the full size changes nothing
    ],
)
def test_progressive_resizing_grows_evenly_to_the_full_size_in_the_last_epoch(start, epochs, sides):
    config = TrainConfig(epochs=epochs, progressive_from=start)
    assert [epoch_image_size(config, e, 32) for e in range(1, epochs + 1)] == sides


def test_progressive_epochs_train_on_smaller_images_of_the_same_draws(tiny_folder):
    config = tiny_config(tiny_folder, epochs=3, progressive_from=16, batch_size=8)
    full = config.with_overrides(train={"progressive_from": 0})
    splits = make_splits(load_dataset(config.data.source), config.data)
    cpu = torch.device("cpu")
    for epoch, side in ((1, 16), (2, 24), (3, 32)):
        small = list(epoch_batches(config, splits, epoch, cpu, DistContext()))
        large = list(epoch_batches(full, splits, epoch, cpu, DistContext()))
        assert {tuple(x.shape[-2:]) for x, _ in small} == {(side, side)}
        assert all(x.is_contiguous(memory_format=torch.channels_last) for x, _ in small)
        # The same images in the same order, with the same augmentation, only smaller.
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(small, large, strict=True))
        x, big = small[0][0], large[0][0]
        assert torch.allclose(x.mean(dim=(2, 3)), big.mean(dim=(2, 3)), atol=0.05)
