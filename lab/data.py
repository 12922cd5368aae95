"""Data sources, splits and statistics.

A source is either ``cifar10`` (torchvision's CIFAR-10, downloaded into the cache folder when
online) or a path to an image folder laid out as ``train/<class>/*`` and ``test/<class>/*``.
Either way the whole data set is decoded once into uint8 tensors ``(N, 3, H, W)`` and cached on
disk, keyed by the source's path, file count, sizes and modification times, so a second load
reads one file instead of decoding 60,000 JPEGs.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import train_test_split

from lab.config import CIFAR10_SOURCE, DataConfig, default_source
from lab.errors import ConfigError, DataError, ImageError
from lab.images import open_checked
from lab.io import atomic_save

CACHE_ENV = "CIFAR_LAB_CACHE"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Statistics of the official pickled CIFAR-10 training batches, shown beside computed ones and
# used for a bare notebook state_dict when no data is at hand.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SPLITS = ("train", "test")
# Bump when the cache file layout changes so stale caches are rebuilt, not misread.
CACHE_FORMAT = 1
# Files a decoding worker is handed at a time: a few hundred 32 px images make the cost of
# passing them between processes small.
DECODE_CHUNK = 500

Progress = Callable[[int, int], None]


def default_cache_dir() -> Path:
    """Where decoded arrays and torchvision downloads live (``CIFAR_LAB_CACHE`` overrides)."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cifar-lab"


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 ``(N, 3, H, W)`` with int64 labels ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, indices: np.ndarray | torch.Tensor) -> ImageSet:
        index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return ImageSet(self.images[index], self.labels[index])


@dataclass(frozen=True)
class Dataset:
    """A whole source: both splits, class names and the training split's channel statistics."""

    source: str
    classes: tuple[str, ...]
    train: ImageSet
    test: ImageSet
    # Per-channel mean and std of the full training split, pixels scaled to [0, 1].
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train.images.shape[2]), int(self.train.images.shape[3])


@dataclass(frozen=True)
class Splits:
    """What one run trains, validates and tests on."""

    classes: tuple[str, ...]
    train: ImageSet
    val: ImageSet | None
    test: ImageSet
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def channel_stats(
    images: torch.Tensor, chunk_size: int = 2048
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and (unbiased) std of uint8 images, scaled to [0, 1].

    Accumulates sums in float64 chunk by chunk, so memory stays at one chunk of floats instead
    of the notebook's single 600 MB float batch, and the result matches a one-shot computation.
    """
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != torch.uint8:
        raise ValueError("channel_stats expects uint8 images shaped (N, 3, H, W)")
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk_size):
        block = images[start : start + chunk_size].to(torch.float64) / 255.0
        total += block.sum(dim=(0, 2, 3))
        total_sq += (block * block).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    var = (total_sq - count * mean * mean) / max(count - 1, 1)
    std = var.clamp_min(0).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@dataclass(frozen=True)
class _ImageFile:
    path: str
    label: int
    size: int
    mtime_ns: int


def _image_files(folder: Path, label: int) -> list[_ImageFile]:
    """Image files of one class folder; one scandir and one stat per file, for speed."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            try:  # a link is followed to its image; a broken or looping one is refused
                if not entry.is_file():
                    continue
                info = entry.stat()
            except OSError as error:
                raise DataError(f"cannot read {entry.path} ({error.strerror})") from error
            found.append(_ImageFile(entry.path, label, info.st_size, info.st_mtime_ns))
    return sorted(found, key=lambda f: f.path)


def _scan_image_folder(root: Path) -> tuple[tuple[str, ...], dict[str, list[_ImageFile]]]:
    """Validate the layout and list ``(file, label)`` per split, with clear errors."""
    if not root.exists():
        raise DataError(
            f"data folder not found: {root}. Point CIFAR_LAB_DATA (or --data) at a folder with "
            "train/<class>/* and test/<class>/*, or use 'cifar10'."
        )
    if not root.is_dir():
        raise DataError(f"data source is not a folder: {root}")
    classes_per_split: dict[str, tuple[str, ...]] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"missing '{split}' folder in {root}: expected {split_dir}/<class>/*")
        names = tuple(sorted(p.name for p in split_dir.iterdir() if p.is_dir()))
        if not names:
            raise DataError(f"no class subfolders in {split_dir}: expected {split_dir}/<class>/*")
        classes_per_split[split] = names
    if classes_per_split["train"] != classes_per_split["test"]:
        only_train = sorted(set(classes_per_split["train"]) - set(classes_per_split["test"]))
        only_test = sorted(set(classes_per_split["test"]) - set(classes_per_split["train"]))
        raise DataError(
            f"train and test class folders differ in {root}: only in train {only_train}, "
            f"only in test {only_test}"
        )
    classes = classes_per_split["train"]
    files: dict[str, list[_ImageFile]] = {}
    for split in SPLITS:
        files[split] = []
        for label, name in enumerate(classes):
            class_dir = root / split / name
            found = _image_files(class_dir, label)
            if not found:
                raise DataError(f"class folder without images: {class_dir}")
            files[split].extend(found)
    return classes, files


def _fingerprint(root: Path, files: dict[str, list[_ImageFile]]) -> str:
    """Changes whenever a file is added, removed, renamed, relabelled or modified."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{root.resolve()}".encode())
    for split in SPLITS:
        listing = "\n".join(
            f"{os.path.basename(f.path)}|{f.label}|{f.size}|{f.mtime_ns}" for f in files[split]
        )
        digest.update(f"{split}|{len(files[split])}\n{listing}".encode())
    return digest.hexdigest()[:24]


def _decode(path: str) -> np.ndarray:
    try:
        with open_checked(path, path) as image:
            return np.asarray(image.convert("RGB"))
    except ImageError as error:
        raise DataError(str(error)) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"not a readable image: {path} ({error})") from error


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack HWC arrays into (N, 3, H, W); images of another size are resized to the usual one."""
    sizes = Counter(a.shape[:2] for a in arrays)
    (height, width), _ = sizes.most_common(1)[0]
    out = np.empty((len(arrays), height, width, 3), dtype=np.uint8)
    for i, array in enumerate(arrays):
        if array.shape[:2] != (height, width):
            resized = Image.fromarray(array).resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(resized)
        out[i] = array
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _decoder_pool(chunks: int) -> Executor:
    """Workers for decoding, one per core (no more than there are chunks).

    Decoding a 32 px image is mostly Python work under the GIL (open, parse, convert), so
    threads barely overlap and processes are what use the cores. They are forked, which starts
    them at once (a spawned process spends seconds importing torch before its first image);
    but forking a process that runs other threads (the app loads data from one) can deadlock
    the child, so such a process decodes in threads instead.
    """
    workers = max(1, min(os.cpu_count() or 1, chunks))
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(workers)


def _load_image_folder(root: Path, cache_dir: Path, progress: Progress | None) -> dict:
    classes, files = _scan_image_folder(root)
    cache_file = cache_dir / f"folder-{_fingerprint(root, files)}.pt"
    cached = _read_cache(cache_file)
    if cached is not None:
        return cached
    total = sum(len(v) for v in files.values())
    done = 0
    arrays: dict[str, list[np.ndarray]] = {}
    with _decoder_pool(math.ceil(total / DECODE_CHUNK)) as pool:
        for split in SPLITS:
            arrays[split] = []
            paths = [f.path for f in files[split]]
            for array in pool.map(_decode, paths, chunksize=DECODE_CHUNK):
                arrays[split].append(array)
                done += 1
                if progress is not None and (done % 1000 == 0 or done == total):
                    progress(done, total)
    payload = {"classes": list(classes)}
    for split in SPLITS:
        payload[f"{split}_images"] = _stack(arrays[split])
        payload[f"{split}_labels"] = torch.tensor([f.label for f in files[split]], dtype=torch.long)
    return _finish_cache(payload, cache_file)


def _load_torchvision_cifar10(cache_dir: Path, progress: Progress | None) -> dict:
    cache_file = cache_dir / f"cifar10-v{CACHE_FORMAT}.pt"
    cached = _read_cache(cache_file)
    if cached is not None:
        return cached
    from torchvision.datasets import CIFAR10

    root = cache_dir / "torchvision"
    payload: dict = {"classes": list(CIFAR10_CLASSES)}
    for split in SPLITS:
        try:
            try:
                data = CIFAR10(root=str(root), train=split == "train", download=False)
            except RuntimeError:
                data = CIFAR10(root=str(root), train=split == "train", download=True)
        except Exception as error:  # network errors come in many types
            raise DataError(
                f"could not download CIFAR-10 into {root} ({error}). Offline? Set "
                "CIFAR_LAB_DATA (or --data) to an image folder with train/<class>/* and "
                "test/<class>/*."
            ) from error
        payload[f"{split}_images"] = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
        payload[f"{split}_labels"] = torch.tensor(data.targets, dtype=torch.long)
        if progress is not None:
            progress(SPLITS.index(split) + 1, len(SPLITS))
    return _finish_cache(payload, cache_file)


def _read_cache(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:
        return None  # a damaged cache is rebuilt, never fatal


def _finish_cache(payload: dict, cache_file: Path) -> dict:
    mean, std = channel_stats(payload["train_images"])
    payload["mean"], payload["std"] = list(mean), list(std)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(payload, cache_file)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return payload


def load_dataset(
    source: str | os.PathLike | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Load a whole source (decoded once, then read from the on-disk cache)."""
    source = str(source) if source is not None else default_source()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if source.strip().lower() == CIFAR10_SOURCE:
        payload = _load_torchvision_cifar10(cache_dir, progress)
    else:
        payload = _load_image_folder(Path(source).expanduser(), cache_dir, progress)
    return Dataset(
        source=source,
        classes=tuple(payload["classes"]),
        train=ImageSet(payload["train_images"], payload["train_labels"]),
        test=ImageSet(payload["test_images"], payload["test_labels"]),
        mean=tuple(float(v) for v in payload["mean"]),
        std=tuple(float(v) for v in payload["std"]),
    )


def _stratified_pick(labels: torch.Tensor, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (picked, rest) with ``count`` picked, keeping class proportions."""
    indices = np.arange(len(labels))
    picked, rest = train_test_split(
        indices, train_size=count, stratify=labels.numpy(), random_state=seed
    )
    return np.sort(picked), np.sort(rest)


def make_splits(dataset: Dataset, config: DataConfig) -> Splits:
    """Apply the config's stratified subset and validation hold-out to a loaded data set."""
    train = dataset.train
    n_classes = len(dataset.classes)
    if n_classes < 2:
        raise DataError(
            f"{dataset.source} has {n_classes} class: a classifier needs at least two "
            "class folders under train/ and test/"
        )
    if config.subset is not None:
        if config.subset > len(train):
            raise ConfigError(
                f"subset {config.subset} is larger than the training split of "
                f"{dataset.source} ({len(train)} images): choose at most {len(train)}",
                "subset",
            )
        if config.subset < 2 * n_classes:
            raise ConfigError(
                f"subset must be at least {2 * n_classes} (two images per class), "
                f"got {config.subset}",
                "subset",
            )
        if config.subset < len(train):
            picked, _ = _stratified_pick(train.labels, config.subset, config.seed)
            train = train.take(picked)
    val = None
    if config.val_fraction > 0:
        n_val = max(n_classes, round(len(train) * config.val_fraction))
        if len(train) - n_val < n_classes:
            raise ConfigError(
                f"validation split of {config.val_fraction} leaves too few training images "
                f"({len(train)} in all)",
                "val_fraction",
            )
        kept, held_out = _stratified_pick(train.labels, len(train) - n_val, config.seed + 1)
        val = train.take(held_out)
        train = train.take(kept)
    return Splits(dataset.classes, train, val, dataset.test, dataset.mean, dataset.std)


def class_counts(dataset: Dataset) -> dict[str, dict[str, int]]:
    """Images per class in each split: ``{split: {class: count}}``."""
    counts = {}
    for split, part in (("train", dataset.train), ("test", dataset.test)):
        per_label = torch.bincount(part.labels, minlength=len(dataset.classes)).tolist()
        counts[split] = dict(zip(dataset.classes, per_label, strict=True))
    return counts
