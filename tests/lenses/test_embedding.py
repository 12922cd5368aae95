"""The feature map: PCA recovers a known structure, t-SNE keeps clusters apart, neighbours are
the nearest features, and a real run's map is cached beside its checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lab.checkpoint import LoadedModel, load_model
from lab.data import Dataset, ImageSet, load_dataset
from lab.errors import ConfigError, LabError
from lab.io import atomic_save
from lab.lenses.embedding import embedding_map, penultimate_layer, project
from lab.models import build_model
from lab.presets import cpu_fast_config


def test_pca_finds_the_direction_the_features_vary_along():
    rng = np.random.default_rng(0)
    position = rng.uniform(-5, 5, 300)
    direction = rng.normal(size=40)
    direction /= np.linalg.norm(direction)
    features = position[:, None] * direction + rng.normal(0, 0.01, (300, 40))
    xy = project(features, "pca")
    assert xy.shape == (300, 2) and xy.dtype == np.float32
    # The first axis is the position along the line (up to its sign), the second only noise.
    assert abs(np.corrcoef(xy[:, 0], position)[0, 1]) > 0.9999
    assert np.std(xy[:, 1]) < 0.02 < 2 < np.std(xy[:, 0])


def test_tsne_keeps_separate_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (3, 20))
    labels = np.repeat(np.arange(3), 40)
    xy = project(centres[labels] + rng.normal(0, 0.5, (120, 20)), "tsne")
    # Every point's nearest neighbour on the map belongs to its own cluster.
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).all()
    with pytest.raises(ConfigError, match="unknown projection"):
        project(xy, "umap")
    with pytest.raises(LabError, match="at least 3 images"):
        project(xy[:2], "pca")


class MeanColour(nn.Module):
    """The penultimate features are the image's mean colour: (R, G, B) in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(3, 2)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
            self.classifier.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def test_neighbours_are_the_nearest_in_feature_space(tmp_path):
    reds = [0, 10, 30, 100, 255]
    images = torch.zeros(5, 3, 32, 32, dtype=torch.uint8)
    for i, red in enumerate(reds):
        images[i, 0] = red
        images[i, 2] = 128
    data = ImageSet(images, torch.tensor([0, 0, 1, 1, 0]))
    dataset = Dataset("toy", ("reddish", "bluish"), data, data, (0.0,) * 3, (1.0,) * 3)
    checkpoint = tmp_path / "toy.pt"
    atomic_save({}, checkpoint)
    config = cpu_fast_config("toy")
    loaded = LoadedModel(
        MeanColour(), config, dataset.classes, (0.0,) * 3, (1.0,) * 3, {}, checkpoint
    )
    assert penultimate_layer(loaded.model) == "classifier"
    mapped = embedding_map(loaded, dataset, "pca", cache=False)
    np.testing.assert_allclose(mapped.features.features[:, 0], np.array(reds) / 255, atol=1e-6)
    assert mapped.frame.columns.tolist() == ["x", "y", "true", "predicted", "correct", "index"]
    # Only image 4 is redder than it is blue (128): the others are predicted "bluish".
    assert mapped.frame["predicted"].tolist() == ["bluish"] * 4 + ["reddish"]
    assert mapped.frame["correct"].tolist() == [False, False, True, True, True]
    near = mapped.neighbours(1, k=3)
    assert near["index"].tolist() == [0, 2, 3]
    np.testing.assert_allclose(near["distance"], np.array([10, 20, 90]) / 255, rtol=1e-5)
    assert near.columns.tolist() == ["index", "true", "predicted", "correct", "distance"]
    assert mapped.neighbours(4, k=10)["index"].tolist() == [3, 2, 1, 0]
    with pytest.raises(LabError, match="not in the map's sample"):
        mapped.neighbours(7)
    assert not (tmp_path / "lenses").exists()  # cache=False writes nothing


def test_the_map_of_a_real_run_is_cached_beside_its_checkpoint(tiny_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    loaded = load_model(run_dir / "best.pt")
    dataset = load_dataset(loaded.config.data.source)
    calls = []
    mapped = embedding_map(loaded, dataset, "tsne", progress=lambda *done: calls.append(done))
    assert calls[-1] == (24, 24)  # every test image of the tiny folder (fewer than 2,000)
    frame = mapped.frame
    assert len(frame) == 24 and sorted(frame["index"]) == list(range(24))
    hidden = build_model(loaded.config.model).classifier[-1].in_features
    assert mapped.features.features.shape == (24, hidden)
    assert set(frame["true"]) == {"circle", "square", "stripes"}
    assert (frame["correct"] == (frame["true"] == frame["predicted"])).all()
    cache = run_dir / "lenses" / "best.embedding.pt"
    assert cache.is_file()

    # Both projections come from one pass of the network; the cached map is the same map.
    calls.clear()
    pca = embedding_map(loaded, dataset, "pca", progress=lambda *done: calls.append(done))
    again = embedding_map(loaded, dataset, "tsne", progress=lambda *done: calls.append(done))
    assert calls == []
    np.testing.assert_array_equal(again.frame[["x", "y"]], frame[["x", "y"]])
    assert not np.allclose(pca.frame["x"], frame["x"])
    # A new best.pt is another checkpoint: its map is computed afresh.
    atomic_save(torch.load(run_dir / "best.pt", weights_only=True), run_dir / "best.pt")
    embedding_map(loaded, dataset, "pca", progress=lambda *done: calls.append(done))
    assert calls[-1] == (24, 24)
