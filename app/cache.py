"""Cached loaders shared by the pages.

* ``st.cache_data`` holds everything derived from the data (counts, sample grids, histograms,
  the test evaluation a run keeps): small values, copied per session.
* ``st.cache_resource`` holds the job manager, the inference models (keyed by checkpoint path and
  modification time) and the decoded data sets. The data sets are the one exception to "data
  through cache_data": a full CIFAR-10 decode is 184 MB of tensors, and cache_data unpickles a
  fresh copy on every access (0.6 s measured), which would make every slider move slow. The
  store hands out the same read-only tensors instead, and remembers a failed source so an
  offline download is not retried on every rerun.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from app.images import chw_to_hwc, strip, upscale
from lab.checkpoint import LoadedModel, load_model
from lab.config import DataConfig, ModelConfig
from lab.data import Dataset, Progress, load_dataset, make_splits
from lab.device import pick_device
from lab.errors import ConfigError, LabError
from lab.evaluate import Evaluation
from lab.jobs import JobManager
from lab.lenses import insight
from lab.lenses.gradcam import Explanation, explain_images
from lab.stored_evaluation import EVALUATION, load_evaluation


class DataStore:
    """Decoded data sets by source, the most recent ``capacity`` of them, shared by sessions."""

    def __init__(self, capacity: int = 2) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, Dataset] = OrderedDict()
        self._failed: dict[str, str] = {}
        self._generations: dict[str, int] = {}

    def has(self, source: str) -> bool:
        with self._lock:
            return source in self._loaded

    def failure(self, source: str) -> str | None:
        """Why the last load of ``source`` failed, until ``forget`` is called."""
        with self._lock:
            return self._failed.get(source)

    def generation(self, source: str) -> int:
        """Changes whenever ``source`` is reloaded: part of every derived cache key."""
        with self._lock:
            return self._generations.get(source, 0)

    def load(self, source: str, progress: Progress | None = None) -> Dataset:
        """The decoded data set (loading it on first use); raises ``LabError`` saying why not.

        The lock is held while loading, so two sessions never decode the same data twice.
        """
        with self._lock:
            if source in self._loaded:
                self._loaded.move_to_end(source)
                return self._loaded[source]
            if source in self._failed:
                raise LabError(self._failed[source])
            try:
                dataset = load_dataset(source, progress=progress)
            except LabError as error:
                self._failed[source] = str(error)
                raise
            self._loaded[source] = dataset
            while len(self._loaded) > self._capacity:
                self._loaded.popitem(last=False)
            return dataset

    def forget(self, source: str) -> None:
        """Drop ``source`` (and a remembered failure), so the next use reads it again."""
        with self._lock:
            self._loaded.pop(source, None)
            self._failed.pop(source, None)
            self._generations[source] = self._generations.get(source, 0) + 1


@st.cache_resource(show_spinner=False)
def data_store() -> DataStore:
    return DataStore()


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    """One manager for the whole server: every session's jobs share its cap and queue."""
    return JobManager()


@st.cache_resource(show_spinner=False)
def inference_device() -> torch.device:
    return pick_device()


@st.cache_resource(show_spinner=False, max_entries=4)
def _inference_model(path: str, mtime_ns: int) -> LoadedModel:
    return load_model(path, device=inference_device())


def inference_model(path: Path) -> LoadedModel:
    """The checkpoint's model, loaded once per path and modification time."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"checkpoint not found: {path}")
    return _inference_model(str(path.resolve()), path.stat().st_mtime_ns)


@st.cache_data(show_spinner=False, max_entries=8)
def class_count_frame(source: str, generation: int, _dataset: Dataset) -> pd.DataFrame:
    """Images per class and split, long format: class, split, images."""
    rows = []
    for split, part in (("train", _dataset.train), ("test", _dataset.test)):
        counts = torch.bincount(part.labels, minlength=len(_dataset.classes)).tolist()
        rows += [
            {"class": name, "split": split, "images": count}
            for name, count in zip(_dataset.classes, counts, strict=True)
        ]
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=32)
def sample_rows(
    source: str,
    generation: int,
    classes: tuple[str, ...],
    per_class: int,
    seed: int,
    _dataset: Dataset,
) -> list[tuple[str, np.ndarray]]:
    """``per_class`` random training images of each class, one upscaled strip per class."""
    rng = np.random.default_rng(seed)
    labels = _dataset.train.labels.numpy()
    rows = []
    for name in classes:
        candidates = np.flatnonzero(labels == _dataset.classes.index(name))
        picked = rng.choice(candidates, size=min(per_class, len(candidates)), replace=False)
        pictures = [upscale(chw_to_hwc(_dataset.train.images[i])) for i in picked]
        rows.append((name, strip(pictures)))
    return rows


@st.cache_data(show_spinner="Counting pixel values ...", max_entries=4)
def pixel_histograms(source: str, generation: int, _dataset: Dataset) -> pd.DataFrame:
    """Share of training pixels at each value 0-255, per channel."""
    images = _dataset.train.images
    total = images.shape[0] * images.shape[2] * images.shape[3]
    frames = []
    for index, channel in enumerate(("red", "green", "blue")):
        counts = torch.bincount(images[:, index].reshape(-1), minlength=256).numpy()
        frames.append(
            pd.DataFrame({"channel": channel, "value": np.arange(256), "share": counts / total})
        )
    return pd.concat(frames, ignore_index=True)


@st.cache_data(show_spinner=False, max_entries=64)
def training_split_size(
    source: str, generation: int, data: DataConfig, _dataset: Dataset
) -> int | ConfigError:
    """Training images left by a run's subset and validation hold-out, or why the data cannot
    be split so: the check of ``lab.data.make_splits``, which the Train form makes on every
    change (half a second for CIFAR-10, so once per subset, fraction and seed)."""
    try:
        return len(make_splits(_dataset, data).train)
    except ConfigError as error:
        return error


def file_version(path: Path) -> tuple[str, int, int] | None:
    """What changes whenever ``path`` is rewritten (its resolved path, size and modification
    time), or None while it does not exist: part of the key of what is derived from a file."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


@st.cache_data(show_spinner=False, max_entries=32)
def _kept_evaluation(
    run_dir: str, checkpoint: str, versions: tuple[tuple | None, tuple | None]
) -> Evaluation | None:
    return load_evaluation(Path(run_dir), Path(checkpoint))


def kept_evaluation(run_dir: Path, checkpoint: Path) -> Evaluation | None:
    """The test evaluation ``run_dir`` keeps for ``checkpoint`` (``lab.stored_evaluation``),
    read once per version of the checkpoint and of the kept file; None while there is none
    that matches (a run made before runs kept one, or a checkpoint changed since)."""
    versions = (file_version(checkpoint), file_version(Path(run_dir) / EVALUATION))
    return _kept_evaluation(str(run_dir), str(checkpoint), versions)


@st.cache_data(show_spinner=False, max_entries=256)
def _chart_spec(_build: Callable[..., alt.TopLevelMixin], name: str, *args: Any) -> dict:
    return _build(*args).to_dict()


def chart_spec(build: Callable[..., alt.TopLevelMixin], *args: Any) -> dict:
    """The Vega-Lite spec of the chart ``build(*args)`` (a function of ``app.charts``), made
    once per chart function and distinct arguments: building and validating an Altair chart
    takes tens of milliseconds, most of a page's re-render when it is built on every run."""
    return _chart_spec(build, f"{build.__module__}.{build.__qualname__}", *args)


# --- insight: the heavy parts, once per checkpoint version ----------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def _explained(version: tuple, key: tuple, target: str | None, _images: list) -> list[Explanation]:
    path, _size, mtime_ns = version
    return explain_images(_inference_model(path, mtime_ns), _images, target)


def explained(
    checkpoint: Path, images: list, key: tuple, target: str | None = None
) -> list[Explanation]:
    """Grad-CAM explanations of ``images`` (PIL), cached by checkpoint version and ``key`` (what
    identifies the images: test indices, or the uploads' content hashes)."""
    version = file_version(checkpoint)
    if version is None:
        raise LabError(f"checkpoint not found: {checkpoint}")
    return _explained(version, key, target, images)


@st.cache_data(show_spinner=False, max_entries=16)
def anatomy(name: str, width: float, input_size: int, num_classes: int) -> insight.Anatomy:
    """``lab.lenses.insight.model_anatomy`` of a model choice (built once per choice)."""
    return insight.model_anatomy(ModelConfig(name=name, width=width), input_size, num_classes)
