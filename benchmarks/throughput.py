"""Same math, faster: the course notebook's training pipeline against the lab engine.

A: the notebook exactly as written: torchvision PIL transforms (Resize 227, RandomHorizontalFlip,
   RandomRotation 15, ToTensor, Normalize) in a DataLoader (batch 64, shuffle, no workers), fp32,
   the notebook AlexNet, Adam 1e-3.
B: the lab engine on the same model, batch size and augmentation distribution: uint8 data in
   memory, batched per-sample augmentation on the device, channels_last, bf16 autocast where the
   hardware has it, foreach (or fused) Adam.

Both run the same number of optimiser steps after a warm-up, alternating A and B in rounds so
drifts of the machine hit both alike. Prints images/s of each and the ratio; the last line is
`speedup_vs_notebook: X`.

    CIFAR_LAB_DATA=../shared/data/cifar10-jpeg python benchmarks/throughput.py [--steps 8]
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
import torch.nn.functional as F
from _common import data_source, machine, peak_rss_gb, pick_device
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

from lab.batches import fast_batches
from lab.config import AugmentConfig, ModelConfig, TrainConfig
from lab.data import load_dataset
from lab.device import autocast, resolve_precision
from lab.models import build_model
from lab.optim import make_optimizer


class NotebookDataset(torch.utils.data.Dataset):
    """The decoded images as PIL, like torchvision's CIFAR10 dataset hands them to transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def notebook_steps(dataset, device: torch.device, batch_size: int = 64):
    """Generator of timed notebook training steps (each yields the images it trained on)."""
    mean, std = dataset.mean, dataset.std
    train_augment = transforms.Compose(
        [
            transforms.Resize((227, 227)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(15),
            transforms.ToTensor(),
            transforms.Normalize(mean=mean, std=std),
        ]
    )
    loader = DataLoader(
        NotebookDataset(dataset.train.images, dataset.train.labels, train_augment),
        batch_size=batch_size,
        shuffle=True,
    )
    torch.manual_seed(0)
    model = build_model(ModelConfig("alexnet")).to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    model.train()
    for data, label in itertools.cycle(loader):
        data, label = data.to(device), label.to(device)
        model.zero_grad()
        loss = criterion(model(data), label)
        loss.backward()
        optimizer.step()
        loss.item()  # the notebook reads the loss every step
        yield len(label)


def lab_model(device: torch.device):
    """The notebook AlexNet and Adam as the lab engine sets them up."""
    torch.manual_seed(0)
    model = build_model(ModelConfig("alexnet")).to(device, memory_format=torch.channels_last)
    return model.train(), make_optimizer(model, TrainConfig(batch_size=64, lr=1e-3), device)


def lab_step(model, optimizer, x, y, device: torch.device, precision: str) -> int:
    """One lab-engine optimiser step; returns the images it trained on."""
    with autocast(device, precision):
        loss = F.cross_entropy(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    loss.item()
    return len(y)


def lab_steps(dataset, device: torch.device, batch_size: int = 64):
    """Generator of timed lab-engine training steps on the same recipe."""
    augment = AugmentConfig(resize=227, hflip_p=0.5, rotation=15.0)
    precision = resolve_precision("auto", device)
    model, optimizer = lab_model(device)
    generator = torch.Generator().manual_seed(0)
    while True:
        batches = fast_batches(
            dataset.train, augment, dataset.mean, dataset.std, batch_size, device, generator
        )
        for x, y in batches:
            yield lab_step(model, optimizer, x, y, device, precision)


def model_only_steps(device: torch.device, batch_size: int = 64):
    """The lab's training step on one fixed, already-augmented batch: the ceiling the data
    pipeline could reach if it cost nothing (where the remaining time goes)."""
    precision = resolve_precision("auto", device)
    model, optimizer = lab_model(device)
    x = torch.randn(batch_size, 3, 227, 227, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=device)
    while True:
        yield lab_step(model, optimizer, x, y, device, precision)


def timed(steps, count: int, device: torch.device) -> tuple[int, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    images = sum(next(steps) for _ in range(count))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images, time.perf_counter() - start


def compare(
    dataset, device: torch.device, steps: int, rounds: int, warmup: int, batch_size: int = 64
) -> dict[str, float]:
    """Images/s of the notebook pipeline, the lab engine and the model step alone, each timed
    over ``steps`` steps per round after ``warmup`` untimed ones."""
    sides = {
        "notebook": notebook_steps(dataset, device, batch_size),
        "lab": lab_steps(dataset, device, batch_size),
        "model": model_only_steps(device, batch_size),
    }
    for side in sides.values():
        timed(side, warmup, device)
    totals = {name: [0, 0.0] for name in sides}
    for round_index in range(rounds):
        for name, side in sides.items():
            images, seconds = timed(side, steps, device)
            totals[name][0] += images
            totals[name][1] += seconds
            print(f"round {round_index + 1} {name:>8}: {images / seconds:7.1f} images/s")
    return {name: images / seconds for name, (images, seconds) in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round and side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    device = pick_device(args.device)
    print(f"machine: {machine()}")
    dataset = load_dataset(data_source())
    rates = compare(dataset, device, args.steps, args.rounds, args.warmup)
    print(f"notebook pipeline: {rates['notebook']:.1f} images/s (fp32, PIL, DataLoader)")
    print(f"lab engine:        {rates['lab']:.1f} images/s ({resolve_precision('auto', device)})")
    print(
        f"model step alone:  {rates['model']:.1f} images/s (no data pipeline: the engine reaches "
        f"{rates['lab'] / rates['model']:.0%} of it; the rest of the time is the network itself)"
    )
    print(
        f"notebook epoch of 50,000 images: {50_000 / rates['notebook'] / 60:.1f} min; "
        f"lab: {50_000 / rates['lab'] / 60:.1f} min"
    )
    print(f"peak_rss_gb: {peak_rss_gb():.2f}")
    print(f"speedup_vs_notebook: {rates['lab'] / rates['notebook']:.2f}")


if __name__ == "__main__":
    main()
