"""The real CIFAR-10 image folder named by CIFAR_LAB_DATA (CI requires these to run)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lab.checkpoint import load_model
from lab.cli import main
from lab.config import ModelConfig
from lab.data import class_counts, load_dataset
from lab.models import build_model
from lab.predict import open_image, predict_images

# Every test here reads all 60,000 images (about 17 s from the decoded cache on 2 cores).
pytestmark = [pytest.mark.real_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def dataset(real_data_path):
    return load_dataset(real_data_path)


def test_counts_and_statistics_match_the_data_readme(dataset):
    counts = class_counts(dataset)
    assert set(counts["train"].values()) == {5000} and set(counts["test"].values()) == {1000}
    assert dataset.classes[0] == "airplane" and dataset.classes[-1] == "truck"
    assert np.allclose(dataset.mean, (0.4913, 0.4821, 0.4465), atol=5e-5)
    assert np.allclose(dataset.std, (0.2452, 0.2428, 0.2606), atol=5e-5)


def test_cpu_fast_on_a_5000_image_subset_beats_35_percent(capsys, real_data_path, tmp_path):
    argv = ["train", "--data", real_data_path, "--preset", "cpu-fast", "--subset", "5000"]
    argv += ["--epochs", "1", "--runs-dir", tmp_path, "--name", "real"]
    assert main([str(a) for a in argv]) == 0
    metrics = json.loads((tmp_path / "real" / "metrics.json").read_text())
    print(f"cpu-fast, 5000 images, 1 epoch: test accuracy {metrics['test_acc']:.4f}")
    assert metrics["test_acc"] >= 0.35


def test_notebook_state_dict_loads_strictly_and_predicts(dataset, tmp_path, real_data_path):
    torch.manual_seed(0)
    path = tmp_path / "alex_net.pth"
    torch.save(build_model(ModelConfig("alexnet")).state_dict(), path)
    loaded = load_model(path, stats=(dataset.mean, dataset.std))
    assert loaded.mean == dataset.mean
    image = open_image(real_data_path / "test" / "cat" / "0000.jpg")
    (prediction,) = predict_images(loaded, [image], top_k=5)
    assert len(prediction.labels) == 5 and set(prediction.labels) <= set(dataset.classes)
    assert sum(prediction.probabilities) <= 1.0 + 1e-5
