"""Data sources, caching, splits and statistics."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lab import data
from lab.config import DATA_ENV, DataConfig, default_source
from lab.data import channel_stats, class_counts, load_dataset, make_splits
from lab.errors import ConfigError, DataError
from tests.conftest import TINY_CLASSES, make_image_folder


def test_channel_stats_match_one_shot_computation():
    images = torch.randint(0, 256, (301, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(images, chunk_size=64)
    floats = images.float() / 255
    assert np.allclose(mean, floats.mean(dim=(0, 2, 3)).numpy(), atol=1e-5)
    assert np.allclose(std, floats.std(dim=(0, 2, 3)).numpy(), atol=1e-5)


def test_image_folder_loads_classes_shapes_and_labels(tiny_folder):
    dataset = load_dataset(tiny_folder)
    assert dataset.classes == TINY_CLASSES
    assert dataset.train.images.shape == (72, 3, 32, 32)
    assert dataset.train.images.dtype == torch.uint8
    assert dataset.test.labels.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert class_counts(dataset)["train"] == {name: 24 for name in TINY_CLASSES}
    first = np.array(Image.open(tiny_folder / "train" / "circle" / "0000.png").convert("RGB"))
    assert torch.equal(dataset.train.images[0], torch.from_numpy(first).permute(2, 0, 1))


def test_cache_is_reused_and_invalidated_by_a_new_file(tmp_path):
    root = make_image_folder(tmp_path / "data", train_per_class=4, test_per_class=2)
    cache = tmp_path / "cache"
    first = load_dataset(root, cache_dir=cache)
    cache_files = list(cache.glob("folder-*.pt"))
    assert len(cache_files) == 1
    again = load_dataset(root, cache_dir=cache)
    assert torch.equal(first.train.images, again.train.images)
    assert list(cache.glob("folder-*.pt")) == cache_files
    shutil.copy(root / "train" / "circle" / "0000.png", root / "train" / "circle" / "extra.png")
    changed = load_dataset(root, cache_dir=cache)
    assert len(changed.train) == len(first.train) + 1
    assert len(list(cache.glob("folder-*.pt"))) == 2


def test_images_of_another_size_are_resized_to_the_common_size(tmp_path):
    root = make_image_folder(tmp_path / "data", train_per_class=3, test_per_class=2)
    Image.new("RGB", (50, 40), (255, 0, 0)).save(root / "train" / "square" / "big.png")
    dataset = load_dataset(root, cache_dir=tmp_path / "cache")
    assert dataset.train.images.shape[1:] == (3, 32, 32)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing", "data folder not found"),
        ("no_test", "missing 'test' folder"),
        ("no_classes", "no class subfolders"),
        ("empty_class", "class folder without images"),
        ("bad_image", "not a readable image"),
        ("mismatch", "train and test class folders differ"),
    ],
)
def test_bad_folders_get_a_clear_error_naming_the_path(tmp_path, breakage, message):
    root = make_image_folder(tmp_path / "data", train_per_class=2, test_per_class=1)
    if breakage == "missing":
        root = tmp_path / "nowhere"
    elif breakage == "no_test":
        shutil.rmtree(root / "test")
    elif breakage == "no_classes":
        shutil.rmtree(root / "train")
        (root / "train").mkdir()
    elif breakage == "empty_class":
        (root / "train" / "zebra").mkdir()
        (root / "test" / "zebra").mkdir()
        shutil.copy(root / "test" / "circle" / "0000.png", root / "test" / "zebra" / "a.png")
    elif breakage == "bad_image":
        (root / "train" / "circle" / "broken.png").write_text("not an image")
    elif breakage == "mismatch":
        shutil.rmtree(root / "test" / "stripes")
    with pytest.raises(DataError, match=message) as error:
        load_dataset(root, cache_dir=tmp_path / "cache")
    assert str(tmp_path) in str(error.value)


def test_validation_split_is_stratified_disjoint_and_seeded(tiny_folder):
    dataset = load_dataset(tiny_folder)
    splits = make_splits(dataset, DataConfig(str(tiny_folder), val_fraction=0.25, seed=3))
    assert len(splits.val) == 18 and len(splits.train) == 54
    assert torch.bincount(splits.val.labels).tolist() == [6, 6, 6]
    pixels = {tuple(img.flatten()[:64].tolist()) for img in splits.train.images}
    assert not any(tuple(img.flatten()[:64].tolist()) in pixels for img in splits.val.images)
    again = make_splits(dataset, DataConfig(str(tiny_folder), val_fraction=0.25, seed=3))
    assert torch.equal(again.val.images, splits.val.images)
    other = make_splits(dataset, DataConfig(str(tiny_folder), val_fraction=0.25, seed=4))
    assert not torch.equal(other.val.images, splits.val.images)


def test_subset_is_stratified_and_keeps_the_full_statistics(tiny_folder):
    dataset = load_dataset(tiny_folder)
    splits = make_splits(dataset, DataConfig(str(tiny_folder), val_fraction=0.0, subset=30))
    assert torch.bincount(splits.train.labels).tolist() == [10, 10, 10]
    assert splits.val is None
    assert splits.mean == dataset.mean and len(splits.test) == len(dataset.test)


@pytest.mark.parametrize(
    "kwargs", [{"val_fraction": -0.1}, {"val_fraction": 0.9}, {"subset": 0}, {"source": " "}]
)
def test_data_config_rejects_out_of_range_values(kwargs):
    with pytest.raises(ConfigError):
        DataConfig(**{"source": "x", **kwargs})


def test_subset_too_small_for_the_classes_is_refused(tiny_folder):
    with pytest.raises(ConfigError, match="at least 6"):
        make_splits(load_dataset(tiny_folder), DataConfig(str(tiny_folder), subset=4))


def test_default_source_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(DATA_ENV, "/some/folder")
    assert default_source() == "/some/folder"
    assert DataConfig().source == "/some/folder"
    monkeypatch.delenv(DATA_ENV)
    assert default_source() == "cifar10"


def test_offline_cifar10_download_fails_with_advice(tmp_path, monkeypatch):
    # No network here: torchvision's download fails, and the error says what to do instead.
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    with pytest.raises(DataError, match="CIFAR_LAB_DATA"):
        load_dataset("cifar10", cache_dir=tmp_path)
    assert os.path.isdir(tmp_path)


def test_cifar10_source_reads_torchvision_files_without_download(tmp_path, monkeypatch):
    """A torchvision CIFAR-10 folder already on disk is used as is (tiny stand-in batches)."""
    import hashlib
    import pickle

    from torchvision.datasets import CIFAR10

    base = tmp_path / "cache" / "torchvision" / CIFAR10.base_folder
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        (base / name).write_bytes(pickle.dumps(batch))
    (base / CIFAR10.meta["filename"]).write_bytes(pickle.dumps({"label_names": ["a"] * 10}))

    def md5(name: str) -> str:
        return hashlib.md5((base / name).read_bytes()).hexdigest()

    # torchvision verifies the official files' md5 sums: point them at these stand-ins.
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, md5(n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(CIFAR10.meta["filename"])})
    dataset = load_dataset("cifar10", cache_dir=tmp_path / "cache")
    assert len(dataset.train) == 20 and len(dataset.test) == 4
    assert dataset.classes[0] == "airplane"
    assert dataset.train.images.shape[1:] == (3, 32, 32)


def test_source_path_may_use_a_tilde(tmp_path, monkeypatch):
    make_image_folder(tmp_path / "data", train_per_class=2, test_per_class=1)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(load_dataset("~/data", cache_dir=tmp_path / "cache").train) == 6
    assert Path("~/data").expanduser() == tmp_path / "data"


def test_decoding_in_processes_gives_what_threads_give(tmp_path, monkeypatch):
    """Chunks of 20 files make the tiny folder's 96 images a job for two processes; the same
    folder loaded from a second thread (which decodes in threads) must match exactly."""
    monkeypatch.setattr(data, "DECODE_CHUNK", 20)
    folder = make_image_folder(tmp_path / "images")
    in_processes = load_dataset(folder, cache_dir=tmp_path / "cache-processes")
    with ThreadPoolExecutor(1) as thread:
        in_threads = thread.submit(
            load_dataset, folder, cache_dir=tmp_path / "cache-threads"
        ).result()
    assert torch.equal(in_processes.train.images, in_threads.train.images)
    assert torch.equal(in_processes.test.labels, in_threads.test.labels)
    assert in_processes.mean == in_threads.mean


def test_an_unreadable_image_decoded_in_a_process_names_its_path(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DECODE_CHUNK", 20)
    folder = make_image_folder(tmp_path / "images")
    broken = folder / "train" / TINY_CLASSES[1] / "0003.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(DataError, match="0003.png"):
        load_dataset(folder, cache_dir=tmp_path / "cache")
