"""Shared fixtures: a tiny synthetic image folder, an isolated cache, the real data, and the
kind of host the suite runs as."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lab.config import DATA_ENV

TINY_CLASSES = ("circle", "square", "stripes")

# CI's hosts differ: some run bf16 natively (AVX512-BF16), where "auto" precision is bf16, and
# others are fp32-only. CIFAR_LAB_TEST_HOST=bf16 or fp32 runs the suite as on that kind of host
# (in this process: "auto" resolves as it would there; bf16 autocast itself runs on any x86
# CPU), so one machine checks both paths. Unset, the host is what it is.
HOST_ENV = "CIFAR_LAB_TEST_HOST"
HOST_KINDS = ("bf16", "fp32")


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


@pytest.fixture(autouse=True, scope="session")
def host_kind():
    """The kind of host the session runs as: see ``HOST_ENV``."""
    kind = os.environ.get(HOST_ENV, "")
    if not kind:
        yield None
        return
    if kind not in HOST_KINDS:
        raise pytest.UsageError(f"{HOST_ENV}={kind!r}: use one of {', '.join(HOST_KINDS)}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lab.device.cpu_has_fast_bf16", lambda: kind == "bf16")
        yield kind


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """The whole session (module and session fixtures included) uses a private cache folder and
    runs folder, never the user's."""
    saved = {key: os.environ.get(key) for key in ("CIFAR_LAB_CACHE", "CIFAR_LAB_RUNS")}
    os.environ["CIFAR_LAB_CACHE"] = str(tmp_path_factory.getbasetemp() / "cache")
    os.environ["CIFAR_LAB_RUNS"] = str(tmp_path_factory.getbasetemp() / "default-runs")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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


def tiny_config(source: Path, epochs: int = 2, **train):
    """A fast run on the tiny folder: a narrow alexnet_cifar, small batches."""
    from lab.presets import preset_config

    return preset_config("cpu-fast", str(source)).with_overrides(
        data={"val_fraction": 0.25},
        model={"width": 0.25},
        train={"epochs": epochs, "batch_size": 16, "lr": 3e-3, **train},
    )


@pytest.fixture(scope="session")
def tiny_run(tiny_folder, tmp_path_factory) -> Path:
    """A finished 2-epoch run on the tiny folder (best.pt, last.pt, config, history, metrics).

    Session-scoped so the analyses that need a trained checkpoint share one short training;
    tests must not modify it (copy it first).
    """
    import torch

    from lab.fit import fit
    from lab.launch import prepare_run

    config = tiny_config(tiny_folder, epochs=2, precision="fp32")
    prepared = prepare_run(config, tmp_path_factory.mktemp("tiny-runs"), name="tiny")
    return fit(prepared, device=torch.device("cpu")).run_dir
