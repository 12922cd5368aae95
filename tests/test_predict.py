"""Single-image prediction: the notebook's test transform, top-k and the network's view."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from lab.checkpoint import load_model
from lab.predict import network_view, open_image, predict_images, preprocess_image

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


@pytest.fixture(scope="module")
def loaded(tiny_run):
    return load_model(tiny_run / "best.pt")


def test_preprocess_equals_the_notebooks_test_transform():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    notebook = transforms.Compose(
        [transforms.Resize((227, 227)), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    )
    assert torch.allclose(preprocess_image(image, 227, MEAN, STD), notebook(image), atol=1e-6)


def test_network_view_undoes_normalisation():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    view = network_view(preprocess_image(image, 32, MEAN, STD), MEAN, STD)
    assert view.dtype == np.uint8 and np.array_equal(view, np.asarray(image))


def test_predictions_are_sorted_top_k_probabilities(loaded, tiny_folder):
    paths = sorted((tiny_folder / "test").glob("*/0000.png"))
    predictions = predict_images(loaded, [open_image(p) for p in paths], top_k=2)
    assert len(predictions) == len(paths)
    for prediction in predictions:
        assert len(prediction.labels) == 2
        assert prediction.probabilities[0] >= prediction.probabilities[1]
        assert prediction.all_probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert [p.label for p in predictions] == ["circle", "square", "stripes"]


def test_any_size_and_mode_becomes_the_input_size(loaded):
    big_gray = Image.fromarray(np.full((300, 200), 128, dtype=np.uint8), mode="L")
    (prediction,) = predict_images(loaded, [big_gray.convert("RGB")], top_k=10)
    assert len(prediction.labels) == len(loaded.classes)  # top-k is capped at the class count


@pytest.mark.precision
@pytest.mark.parametrize("trained_in", ["fp32", "bf16"])
def test_predictions_use_the_runs_own_precision_unless_asked(loaded, tiny_folder, trained_in):
    run = replace(loaded, config=loaded.config.with_overrides(train={"precision": trained_in}))
    other = "bf16" if trained_in == "fp32" else "fp32"
    images = [open_image(p) for p in sorted((tiny_folder / "test").glob("*/000*.png"))]

    def probabilities(**precision):
        return np.stack([p.all_probabilities for p in predict_images(run, images, **precision)])

    default = probabilities()
    np.testing.assert_array_equal(default, probabilities(precision=trained_in))
    assert not np.array_equal(default, probabilities(precision=other))
