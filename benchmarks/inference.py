"""Classifying one uploaded image: median latency for each model variant on this machine.

Times the Classify page's path for one image file: decode (`open_image`), preprocess to the
checkpoint's input size, forward pass, softmax and top-5 (`predict_images`), on freshly
initialised checkpoints of `alexnet_cifar` and `alexnet` (227 px). The last line is
`median_ms_alexnet: X`.

    python benchmarks/inference.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine
from PIL import Image

from lab.checkpoint import load_model, training_payload
from lab.config import ModelConfig
from lab.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, ImageSet, Splits
from lab.early_stopping import EarlyStopping
from lab.io import atomic_save
from lab.models import build_model
from lab.optim import make_optimizer
from lab.predict import open_image, predict_images
from lab.presets import preset_config


def bare_checkpoint(folder: Path, preset: str) -> Path:
    """A checkpoint in the lab's format with random weights (latency needs no training),
    written as a run writes its own (``lab.checkpoint.training_payload``, ``lab.io``)."""
    config = preset_config(preset, "cifar10")
    model = build_model(config.model)
    empty = ImageSet(torch.zeros(0, 3, 32, 32, dtype=torch.uint8), torch.zeros(0).long())
    splits = Splits(CIFAR10_CLASSES, empty, None, empty, CIFAR10_MEAN, CIFAR10_STD)
    optimizer = make_optimizer(model, config.train, torch.device("cpu"))
    stopper = EarlyStopping(config.train.patience, config.train.monitor_mode)
    payload = training_payload(config, splits, model, optimizer, None, stopper, [], 0.0, None, None)
    return atomic_save(payload, folder / f"{preset}.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    medians = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        photo = folder / "photo.jpg"
        pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photo, quality=90)
        for preset, name in (("cpu-fast", "alexnet_cifar"), ("notebook", "alexnet")):
            loaded = load_model(bare_checkpoint(folder, preset))
            assert loaded.config.model == ModelConfig(**loaded.config.model.__dict__)
            times = []
            for i in range(args.repeats + 3):
                start = time.perf_counter()
                predict_images(loaded, [open_image(photo)], top_k=5)
                if i >= 3:  # the first calls pay one-off oneDNN set-up
                    times.append((time.perf_counter() - start) * 1000)
            medians[name] = statistics.median(times)
            print(
                f"{name:>14} ({loaded.input_size} px): median {medians[name]:.1f} ms, "
                f"p90 {np.percentile(times, 90):.1f} ms over {args.repeats} images"
            )
    print(f"median_ms_alexnet_cifar: {medians['alexnet_cifar']:.1f}")
    print(f"median_ms_alexnet: {medians['alexnet']:.1f}")


if __name__ == "__main__":
    main()
