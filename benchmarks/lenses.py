"""The lenses on a finished run: the inside view per image, the attributions per image, and the
embedding map and channel ranking the first time (nothing cached) and from the cache.

Goals (on a cpu-fast run): the inside view at most 1 s per image; the embedding map
at most 15 s the first time (t-SNE on 2,000 points) and at most 1 s from the cache. The run's
``lenses/`` cache folder is removed first, so "first" means first.

    export CIFAR_LAB_DATA=../shared/data/cifar10-jpeg
    cifar-lab train --preset cpu-fast --subset 5000 --epochs 2 --runs-dir /tmp/lenses-runs \\
        --name bench
    python benchmarks/lenses.py /tmp/lenses-runs/bench [--images 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from _common import data_source, machine
from PIL import Image

from lab.checkpoint import load_model
from lab.data import load_dataset
from lab.lenses.attribution import METHODS
from lab.lenses.embedding import embedding_map
from lab.lenses.gradcam import explain_images
from lab.lenses.inside import (
    channel_activations,
    filter_grid,
    first_filters,
    look_inside,
    map_picture,
)
from lab.runs import LENSES


def measure(action) -> tuple[float, float]:
    """Wall time and the CPU time of this process's threads: on a machine that other work
    shares, CPU time over the cores used tells what the wall time would be on an idle one."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def timed(action) -> str:
    wall, cpu = measure(action)
    return f"{wall:.2f} s ({cpu:.2f} s CPU)"


def median_per_image(action, images: list[Image.Image]) -> str:
    wall, cpu = zip(*(measure(lambda image=image: action(image)) for image in images), strict=True)
    return (
        f"median {statistics.median(wall):.3f} s ({statistics.median(cpu):.3f} s CPU), "
        f"max {max(wall):.3f} s"
    )


def load() -> str:
    return "load average " + ", ".join(f"{value:.1f}" for value in os.getloadavg())


def inside_view(loaded, image: Image.Image) -> None:
    """Everything the inside view shows for one image: the path, the 16 strongest maps of
    every convolution as pictures, and the first layer's filters."""
    view = look_inside(loaded, image)
    for layer in view.layers:
        _, maps = layer.strongest(16)
        for feature_map in maps:
            map_picture(feature_map)
    filter_grid(first_filters(loaded.model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (with best.pt)")
    parser.add_argument("--images", type=int, default=20, help="test images to time per view")
    args = parser.parse_args()
    print(machine())
    print(load())
    loaded = load_model(args.run / "best.pt")
    dataset = load_dataset(data_source())
    print(f"run {args.run} ({loaded.config.model.name}, width {loaded.config.model.width})")
    images = [
        Image.fromarray(dataset.test.images[i].permute(1, 2, 0).numpy())
        for i in range(0, len(dataset.test), len(dataset.test) // args.images)
    ][: args.images]
    inside_view(loaded, images[0])  # the first call pays for torch's one-off set-up
    print(f"inside view per image: {median_per_image(lambda i: inside_view(loaded, i), images)}")
    for method in METHODS.values():
        figures = median_per_image(
            lambda image, m=method: explain_images(loaded, [image], method=m.compute), images[:5]
        )
        print(f"{method.title} per image: {figures}")

    shutil.rmtree(args.run / LENSES, ignore_errors=True)
    first = timed(lambda: embedding_map(loaded, dataset, "tsne"))
    cached = timed(lambda: embedding_map(loaded, dataset, "tsne"))
    pca = timed(lambda: embedding_map(loaded, dataset, "pca"))
    print(f"embedding map, t-SNE on 2,000 test images: first {first}, cached {cached}")
    print(f"embedding map, PCA once the features are cached: {pca}")
    first = timed(lambda: channel_activations(loaded, dataset))
    cached = timed(lambda: channel_activations(loaded, dataset))
    print(f"channel ranking on 2,000 test images: first {first}, cached {cached}")
    print(load())


if __name__ == "__main__":
    main()
