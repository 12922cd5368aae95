"""A map of what the model learned: the penultimate-layer features of test images in 2-D.

The last fully connected layer turns one vector per image into the class scores, so that
vector (the input of the last ``Linear``: 1024 numbers for the notebook's AlexNet, 512 for
``alexnet_cifar`` at half width) is where the network has sorted the images. ``features``
takes it for a bounded sample of test images (2,000 by default); ``embedding_map`` projects it
to 2-D with PCA (the two directions of largest spread: faithful to distances, crowded) or
t-SNE (neighbourhoods kept: clusters read well, but distances between clusters and cluster
sizes mean little), and ``EmbeddingMap.neighbours`` finds an image's nearest neighbours in the
full feature space, not on the map.

The features and every projection made are cached beside the checkpoint
(``lab.lenses.activations``): t-SNE runs once per checkpoint, later maps read a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from torch import nn

from lab.checkpoint import LoadedModel
from lab.data import Dataset, Progress
from lab.errors import ConfigError, LabError
from lab.lenses.activations import (
    DEFAULT_SAMPLE,
    SAMPLE_SEED,
    SampleCache,
    run_over,
    sample_indices,
)

PROJECTIONS = ("pca", "tsne")
EMBEDDING_KIND = "embedding"
# t-SNE first reduces the features to this many PCA components: the usual advice (van der
# Maaten), which removes noise and makes the neighbour search several times faster.
TSNE_PCA_COMPONENTS = 50
# t-SNE's effective number of neighbours; 30 is its default, and small samples need less.
TSNE_PERPLEXITY = 30.0
# Half scikit-learn's default 1000 iterations, and a coarser Barnes-Hut approximation (0.8
# instead of 0.5): on 2,000 test images of a cpu-fast run they reach nearly the same KL
# divergence (1.23 against 1.16) and the same neighbourhoods (trustworthiness at 10 neighbours
# 0.991 against 0.992) in under half the CPU time.
TSNE_ITERATIONS = 500
TSNE_ANGLE = 0.8


def penultimate_layer(model: nn.Module) -> str:
    """Name of the last ``Linear``, whose input is the penultimate-layer feature vector."""
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no fully connected layer to read")
    return linears[-1]


@dataclass(frozen=True)
class Features:
    """Penultimate-layer features of sampled test images, with what the model made of them."""

    indices: np.ndarray  # (N,) positions in the test split
    features: np.ndarray  # (N, F) float32
    labels: np.ndarray  # (N,) true classes
    predictions: np.ndarray  # (N,) predicted classes (the plain network, no flip averaging)
    classes: tuple[str, ...]


def project(features: np.ndarray, method: str = "pca", seed: int = SAMPLE_SEED) -> np.ndarray:
    """(N, F) features as (N, 2) map coordinates by PCA or t-SNE (scikit-learn)."""
    if method not in PROJECTIONS:
        raise ConfigError(f"unknown projection '{method}': choose one of {', '.join(PROJECTIONS)}")
    features = np.asarray(features, dtype=np.float32)
    if len(features) < 3:
        raise LabError(f"a map needs at least 3 images, got {len(features)}")
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    components = min(TSNE_PCA_COMPONENTS, *features.shape)
    reduced = PCA(n_components=components, random_state=seed).fit_transform(features)
    tsne = TSNE(
        n_components=2,
        # t-SNE needs fewer neighbours than images.
        perplexity=min(TSNE_PERPLEXITY, (len(features) - 1) / 3),
        init="pca",
        learning_rate="auto",
        max_iter=TSNE_ITERATIONS,
        angle=TSNE_ANGLE,
        random_state=seed,
    )
    return tsne.fit_transform(reduced).astype(np.float32)


@dataclass(frozen=True)
class EmbeddingMap:
    """The map of one checkpoint: ``frame`` has one row per image with ``x``, ``y``, ``true``,
    ``predicted``, ``correct`` and ``index`` (position in the test split)."""

    method: str
    frame: pd.DataFrame
    features: Features

    def neighbours(self, index: int, k: int = 8) -> pd.DataFrame:
        """The ``k`` images nearest to test image ``index`` in feature space (Euclidean),
        nearest first: ``index``, ``true``, ``predicted``, ``correct`` and ``distance``."""
        found = np.flatnonzero(self.features.indices == index)
        if not len(found):
            raise LabError(f"test image {index} is not in the map's sample")
        vectors = self.features.features
        distances = np.linalg.norm(vectors - vectors[found[0]], axis=1)
        distances[found[0]] = np.inf  # an image is not its own neighbour
        order = np.argsort(distances, kind="stable")[: min(k, len(vectors) - 1)]
        rows = self.frame.iloc[order][["index", "true", "predicted", "correct"]]
        return rows.reset_index(drop=True).assign(distance=distances[order])


def embedding_map(
    loaded: LoadedModel,
    dataset: Dataset,
    method: str = "tsne",
    *,
    sample: int = DEFAULT_SAMPLE,
    progress: Progress | None = None,
    cache: bool = True,
) -> EmbeddingMap:
    """The 2-D map of ``sample`` test images' penultimate features, by ``method`` ("pca" or
    "tsne"). The first call per checkpoint runs the network (reporting ``progress(done,
    total)``); the first call per method projects; both are cached beside the checkpoint."""
    if method not in PROJECTIONS:
        raise ConfigError(f"unknown projection '{method}': choose one of {', '.join(PROJECTIONS)}")
    indices = sample_indices(len(dataset.test), sample)
    store = SampleCache(loaded, dataset, EMBEDDING_KIND, indices, enabled=cache)
    arrays = store.read() or {}
    if "features" not in arrays:
        layer = penultimate_layer(loaded.model)
        images = dataset.test.images[torch.as_tensor(indices)]
        kept, logits = run_over(
            loaded, images, {layer: lambda inputs, _output: inputs[0]}, progress=progress
        )
        arrays = {"features": kept[layer], "predictions": logits.argmax(axis=1)}
    if method not in arrays:
        arrays[method] = project(arrays["features"], method)
        store.write(arrays)
    labels = dataset.test.labels[torch.as_tensor(indices)].numpy()
    features = Features(
        indices, arrays["features"], labels, arrays["predictions"], tuple(dataset.classes)
    )
    classes = np.asarray(features.classes, dtype=object)
    frame = pd.DataFrame(
        {
            "x": arrays[method][:, 0],
            "y": arrays[method][:, 1],
            "true": classes[labels],
            "predicted": classes[features.predictions],
            "correct": labels == features.predictions,
            "index": indices,
        }
    )
    return EmbeddingMap(method, frame, features)
