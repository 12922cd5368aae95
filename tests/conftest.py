"""Shared fixtures: a tiny synthetic image folder, an isolated cache, and the real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab.data import DATA_ENV

TINY_CLASSES = ("circle", "square", "stripes")


def _draw(kind: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A learnable toy image: each class has its own shape and colour, plus noise."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = rng.normal(60, 20, (size, size, 3))
    cx, cy = rng.integers(10, size - 10, 2)
    if kind == 0:
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < 49
        image[mask] = (220, 60, 60)
    elif kind == 1:
        mask = (abs(xx - cx) < 6) & (abs(yy - cy) < 6)
        image[mask] = (60, 220, 60)
    else:
        mask = (xx // 4) % 2 == 0
        image[mask] = (60, 60, 220)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_image_folder(root: Path, train_per_class: int = 24, test_per_class: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(TINY_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.fromarray(_draw(label, rng)).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test uses a private cache folder and runs folder, never the user's."""
    monkeypatch.setenv("CIFAR_LAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("CIFAR_LAB_RUNS", str(tmp_path_factory.getbasetemp() / "default-runs"))


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    value = os.environ.get(DATA_ENV, "")
    path = Path(value) if value else None
    if path is None or not (path / "train").is_dir():
        pytest.skip(f"real data not available: set {DATA_ENV} to the CIFAR-10 image folder")
    return path
