"""The batch feeds of training and evaluation, as torchvision's references keep their loaders.

The default ``fast`` feed keeps the data as uint8 on the training device and augments whole
batches there (``lab.augment.apply_batch``), channels_last. The ``reference`` feed is the
notebook's: per-image torchvision transforms on PIL images through a DataLoader, for comparison.
Every epoch draws from a generator of its own (``epoch_generator``), so a resumed run sees
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from lab.augment import ReferenceAugment, apply_batch, preprocess_batch, sample_params
from lab.config import AugmentConfig, RunConfig, TrainConfig
from lab.data import ImageSet, Splits
from lab.distributed import DistContext
from lab.errors import ConfigError

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


def check_batch_size(batch_size: int, train_images: int) -> None:
    """A batch must fit in the training split (checked before a run folder is created)."""
    if batch_size > train_images:
        raise ConfigError(
            f"batch_size {batch_size} is larger than the training split "
            f"({train_images} images): choose 1 to {train_images}",
            "batch_size",
        )


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator per (seed, epoch): a resumed run draws exactly what the first one would."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def usable_batch_size(n: int, batch_size: int, world_size: int = 1) -> int:
    """Number of images one epoch uses: a final batch that would leave a process fewer than two
    images is dropped (BatchNorm cannot train on one)."""
    remainder = n % batch_size
    return n - remainder if 0 < remainder < 2 * world_size and n > remainder else n


def fast_batches(
    data: ImageSet,
    augment: AugmentConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    train: bool = True,
    context: DistContext = DistContext(),
    skip: int = 0,
) -> Batches:
    """Batches augmented on ``device``; shuffled and randomly augmented when ``train``.

    Under torchrun every rank draws the same global batch and augmentation parameters and keeps
    its own slice (``context.shard``), so the math matches one process with the same batch.
    ``skip`` leaves out the first batches of the epoch (a resume inside it): their shuffle and
    augmentation are still drawn, so the rest is exactly what the whole epoch would yield."""
    images = data.images.to(device, non_blocking=True)
    labels = data.labels.to(device, non_blocking=True)
    n = len(data)
    if train:
        order = torch.randperm(n, generator=generator).to(device)
        n = usable_batch_size(n, batch_size, context.world_size)
    else:
        order = torch.arange(n, device=device)
    size = tuple(data.images.shape[-2:])
    for number, start in enumerate(range(0, n, batch_size)):
        index = order[start : min(start + batch_size, n)]
        if train:
            params = sample_params(augment, len(index), size, generator)
            if number < skip:
                continue
            params = {key: context.shard(value) for key, value in params.items()}
        index = context.shard(index)
        raw = images.index_select(0, index)
        if train:
            x = apply_batch(raw, augment, params, mean, std)
        else:
            x = preprocess_batch(raw, augment, mean, std)
        yield x.contiguous(memory_format=torch.channels_last), labels.index_select(0, index)


class _PilImages(torch.utils.data.Dataset):
    """ImageSet items as PIL images through a per-image transform, like torchvision datasets."""

    def __init__(self, data: ImageSet, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.images = data.images.permute(0, 2, 3, 1).numpy()
        self.labels = data.labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def reference_batches(
    data: ImageSet,
    augment: AugmentConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    train: bool = True,
    context: DistContext = DistContext(),
    skip: int = 0,
) -> Batches:
    """The notebook's pipeline: per-image PIL transforms in a DataLoader (no workers), with
    the sampler ``shuffle=True`` would make. ``skip`` leaves out the first batches without
    transforming them: their random draws came before the random state a resume restores."""
    if context.enabled:
        raise ConfigError("the reference pipeline runs in one process: use pipeline 'fast'")
    dataset = _PilImages(data, ReferenceAugment(augment, mean, std, train=train))
    order = RandomSampler(dataset, generator=generator) if train else range(len(dataset))
    batches = BatchSampler(order, batch_size, drop_last=train and len(data) % batch_size == 1)
    loader = DataLoader(dataset, batch_sampler=islice(batches, skip, None), generator=generator)
    for x, y in loader:
        yield x.to(device).contiguous(memory_format=torch.channels_last), y.to(device)


BATCHERS = {"fast": fast_batches, "reference": reference_batches}


def epoch_batches(
    config: RunConfig,
    splits: Splits,
    epoch: int,
    device: torch.device,
    context: DistContext,
    skip: int = 0,
) -> Batches:
    """The training batches of one epoch, drawn from the epoch's own generator, at the epoch's
    image size (``epoch_image_size``); ``skip`` leaves out the first ones (those a resumed epoch
    had done)."""
    batches = BATCHERS[config.train.pipeline](
        splits.train,
        config.augment,
        splits.mean,
        splits.std,
        config.train.batch_size,
        device,
        epoch_generator(config.train.seed, epoch),
        context=context,
        skip=skip,
    )
    for x, y in batches:
        height, width = x.shape[-2:]
        side = epoch_image_size(config.train, epoch, height)
        if side != height:
            x = F.interpolate(
                x, size=(side, round(width * side / height)), mode="bilinear", antialias=True
            ).contiguous(memory_format=torch.channels_last)
        yield x, y


def eval_batches(
    config: RunConfig,
    splits: Splits,
    data: ImageSet,
    device: torch.device,
    context: DistContext = DistContext(),
) -> Batches:
    """The batches that score ``data`` (a split of ``splits``): in order, without augmentation,
    in the run's evaluation batch size."""
    return BATCHERS[config.train.pipeline](
        data,
        config.augment,
        splits.mean,
        splits.std,
        config.train.eval_batch_size,
        device,
        train=False,
        context=context,
    )


def epoch_image_size(config: TrainConfig, epoch: int, full: int) -> int:
    """Side of the training images in ``epoch`` when the full side is ``full``: under
    progressive resizing ``progressive_from`` in the first epoch, growing evenly to ``full``
    in the last (fast.ai's DAWNBench trick: the early epochs learn coarse features as well from
    small images, at a fraction of the cost); ``full`` throughout otherwise."""
    start = config.progressive_from
    if not start or start >= full or config.epochs == 1:
        return full
    return round(start + (full - start) * (epoch - 1) / (config.epochs - 1))
