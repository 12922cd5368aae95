"""Insight computations on small known cases: confusion, top losses, calibration, comparison,
config diff, the unsure hint, the anatomy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lab.config import ModelConfig
from lab.errors import ConfigError, LabError
from lab.evaluate import Evaluation
from lab.lenses.insight import (
    calibration,
    class_accuracy_difference,
    config_diff,
    confusion_difference,
    disagreements,
    entropy_fraction,
    flatten_config,
    matrix_frame,
    model_anatomy,
    most_confused,
    top_losses,
    unsure_message,
)
from lab.models import build_model
from lab.presets import cpu_fast_config, notebook_config

CLASSES = ("cat", "dog", "bird")


def evaluation_from(labels, predictions, confidence=0.8, classes=CLASSES) -> Evaluation:
    """An evaluation whose argmax is ``predictions``, each with top probability ``confidence``."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    confidence = np.broadcast_to(np.asarray(confidence, dtype=float), labels.shape)
    rest = (1 - confidence) / (len(classes) - 1)
    probabilities = np.repeat(rest[:, None], len(classes), axis=1)
    probabilities[np.arange(len(labels)), predictions] = confidence
    return Evaluation(classes, labels, probabilities, loss=0.0)


def evaluation_from_matrix(matrix) -> Evaluation:
    true, predicted = [], []
    for t, row in enumerate(matrix):
        for p, count in enumerate(row):
            true += [t] * count
            predicted += [p] * count
    return evaluation_from(true, predicted)


# --- errors -------------------------------------------------------------------------------------

MATRIX = [[5, 2, 1], [3, 4, 0], [0, 3, 6]]


def test_most_confused_ranks_the_off_diagonal_cells():
    evaluation = evaluation_from_matrix(MATRIX)
    assert evaluation.confusion().tolist() == MATRIX
    pairs = most_confused(evaluation, top=None)
    # Ties (3 and 3) are in class order: dog's row before bird's.
    assert list(zip(pairs["true"], pairs["predicted"], pairs["count"], strict=True)) == [
        ("dog", "cat", 3),
        ("bird", "dog", 3),
        ("cat", "dog", 2),
        ("cat", "bird", 1),
    ]
    assert pairs["share"].tolist() == pytest.approx([3 / 7, 3 / 9, 2 / 8, 1 / 8])
    assert len(most_confused(evaluation, top=2)) == 2


def test_most_confused_is_empty_for_a_perfect_model():
    pairs = most_confused(evaluation_from([0, 1, 2], [0, 1, 2]))
    assert pairs.empty
    assert list(pairs.columns) == ["true", "predicted", "count", "share"]


def test_top_losses_orders_wrong_images_by_loss():
    probabilities = np.array(
        [
            [0.90, 0.05, 0.05],  # 0: cat, right
            [0.70, 0.10, 0.20],  # 1: dog, p(dog) = 0.1
            [0.01, 0.98, 0.01],  # 2: bird, p(bird) = 0.01
            [0.30, 0.50, 0.20],  # 3: cat, p(cat) = 0.3
            [0.00, 1.00, 0.00],  # 4: cat, p(cat) = 0 exactly
        ]
    )
    evaluation = Evaluation(CLASSES, np.array([0, 1, 2, 0, 0]), probabilities, loss=0.0)
    worst = top_losses(evaluation, k=None)
    assert worst["index"].tolist() == [4, 2, 1, 3]
    assert worst["loss"].iloc[0] == pytest.approx(-math.log(1e-12))  # finite despite p = 0
    assert worst["loss"].iloc[1:].tolist() == pytest.approx(
        [-math.log(p) for p in (0.01, 0.1, 0.3)]
    )
    assert worst.iloc[1][["true", "predicted"]].tolist() == ["bird", "dog"]
    assert worst.iloc[1]["confidence"] == pytest.approx(0.98)
    assert worst.iloc[1]["true_probability"] == pytest.approx(0.01)
    assert top_losses(evaluation, k=2)["index"].tolist() == [4, 2]
    assert top_losses(evaluation, k=None, true_class="cat")["index"].tolist() == [4, 3]
    assert top_losses(evaluation, k=None, only_wrong=False)["index"].tolist() == [4, 2, 1, 3, 0]
    with pytest.raises(ConfigError, match="unknown class 'cow'"):
        top_losses(evaluation, true_class="cow")


# --- calibration --------------------------------------------------------------------------------


def calibration_toy(groups) -> Evaluation:
    """Two-class predictions: for each (confidence, images, right) group, ``right`` are right."""
    labels, predictions, confidence = [], [], []
    for conf, count, right in groups:
        labels += [0] * count
        predictions += [0] * right + [1] * (count - right)
        confidence += [conf] * count
    return evaluation_from(labels, predictions, confidence, classes=("yes", "no"))


def test_a_perfectly_calibrated_model_has_zero_ece():
    evaluation = calibration_toy([(0.55, 20, 11), (0.75, 8, 6), (0.95, 20, 19)])
    result = calibration(evaluation, bins=10)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert result.max_gap == pytest.approx(0.0, abs=1e-12)
    bins = result.bins
    assert len(bins) == 10
    assert bins["count"].tolist() == [0, 0, 0, 0, 0, 20, 0, 8, 0, 20]
    filled = bins[bins["count"] > 0]
    assert filled["accuracy"].tolist() == pytest.approx([0.55, 0.75, 0.95])
    assert filled["confidence"].tolist() == pytest.approx([0.55, 0.75, 0.95])
    assert bins.loc[bins["count"] == 0, "accuracy"].isna().all()


def test_an_overconfident_model_has_the_known_ece():
    # Half the images: 90% confident, 50% right (gap 0.4); the other half calibrated at 60%.
    evaluation = calibration_toy([(0.9, 10, 5), (0.6, 10, 6)])
    result = calibration(evaluation, bins=10)
    assert result.ece == pytest.approx(0.5 * 0.4)
    assert result.max_gap == pytest.approx(0.4)
    assert result.bins.loc[8, "gap"] == pytest.approx(0.4)  # positive: over-confident


def test_calibration_bins_are_closed_on_the_right():
    # A confidence of exactly 0.5 belongs to (0.4, 0.5], 1.0 to the last bin.
    evaluation = calibration_toy([(0.5, 2, 1), (1.0, 3, 3)])
    counts = calibration(evaluation, bins=10).bins["count"].tolist()
    assert counts == [0, 0, 0, 0, 2, 0, 0, 0, 0, 3]
    with pytest.raises(ConfigError):
        calibration(evaluation, bins=0)


# --- two checkpoints ----------------------------------------------------------------------------

LABELS = [0, 0, 1, 1, 2, 2]
PRED_A = [0, 1, 1, 1, 2, 0]
PRED_B = [0, 0, 1, 2, 2, 2]


def test_class_accuracy_difference_is_b_minus_a():
    frame = class_accuracy_difference(
        evaluation_from(LABELS, PRED_A), evaluation_from(LABELS, PRED_B)
    )
    assert frame["class"].tolist() == list(CLASSES)
    assert frame["accuracy_a"].tolist() == [0.5, 1.0, 0.5]
    assert frame["accuracy_b"].tolist() == [1.0, 0.5, 1.0]
    assert frame["difference"].tolist() == [0.5, -0.5, 0.5]


def test_confusion_difference_of_normalised_matrices():
    diff = confusion_difference(evaluation_from(LABELS, PRED_A), evaluation_from(LABELS, PRED_B))
    expected = [[0.5, -0.5, 0.0], [0.0, -0.5, 0.5], [-0.5, 0.0, 0.5]]
    assert diff.tolist() == expected
    long = matrix_frame(diff, CLASSES, value="difference")
    assert len(long) == 9
    cell = long[(long["true"] == "dog") & (long["predicted"] == "bird")]
    assert cell["difference"].item() == 0.5
    with pytest.raises(ValueError):
        matrix_frame(diff, CLASSES[:2])


def test_disagreements_with_class_filter():
    a, b = evaluation_from(LABELS, PRED_A), evaluation_from(LABELS, PRED_B, confidence=0.6)
    frame = disagreements(a, b)
    assert frame["index"].tolist() == [1, 3, 5]
    assert frame["correct"].tolist() == ["b", "a", "b"]
    assert frame.iloc[1][["true", "predicted_a", "predicted_b"]].tolist() == ["dog", "dog", "bird"]
    assert frame["confidence_a"].tolist() == pytest.approx([0.8] * 3)
    assert frame["confidence_b"].tolist() == pytest.approx([0.6] * 3)
    assert disagreements(a, b, class_name="cat")["index"].tolist() == [1]
    assert disagreements(a, b, class_name="cat", match="any")["index"].tolist() == [1, 5]
    with pytest.raises(ConfigError):
        disagreements(a, b, class_name="cat", match="some")


def test_comparing_evaluations_of_different_images_is_refused():
    a = evaluation_from(LABELS, PRED_A)
    with pytest.raises(LabError, match="different images"):
        disagreements(a, evaluation_from(LABELS[::-1], PRED_B))
    other_classes = evaluation_from(LABELS, PRED_B, classes=("a", "b", "c"))
    with pytest.raises(LabError, match="different classes"):
        confusion_difference(a, other_classes)


def test_config_diff_lists_the_settings_that_differ():
    notebook, fast = notebook_config("data"), cpu_fast_config("data")
    diff = config_diff(notebook, fast)
    rows = diff.set_index("setting")
    assert rows.loc["model.name", "a"] == "alexnet"
    assert rows.loc["model.name", "b"] == "alexnet_cifar"
    assert rows.loc["train.lr", "a"] == 1e-3
    assert rows.loc["train.epochs", "a"] == 30 and rows.loc["train.epochs", "b"] == 12
    assert "data.source" not in rows.index  # the same in both
    assert "train.batch_size" not in rows.index  # both train with batches of 64
    assert diff["differs"].all()
    everything = config_diff(notebook, fast, only_differences=False)
    assert len(everything) == len(flatten_config(notebook))
    assert everything["differs"].sum() == len(diff)


def test_config_diff_reads_config_json_and_older_configs():
    config = cpu_fast_config("data")
    # What runs.read_config returns: the same settings after a JSON round trip.
    assert config_diff(config, json.loads(json.dumps(config.to_dict()))).empty
    older = config.to_dict()
    del older["train"]["tta_flip"]
    diff = config_diff(older, config)
    assert diff.to_dict("records") == [
        {"setting": "train.tta_flip", "a": None, "b": True, "differs": True}
    ]


# --- one prediction -----------------------------------------------------------------------------

TEN = tuple(f"c{i}" for i in range(10))


def test_entropy_fraction_spans_certain_to_uniform():
    assert entropy_fraction(np.eye(10)[3]) == 0.0
    assert entropy_fraction(np.full(10, 0.1)) == pytest.approx(1.0)


def test_a_confident_prediction_gets_no_hint():
    probabilities = np.array([0.91] + [0.01] * 9)
    assert unsure_message(probabilities, TEN) is None


def test_unsure_predictions_are_explained_plainly():
    low_top = np.array([0.45, 0.44, 0.11] + [0.0] * 7)
    message = unsure_message(low_top, TEN)
    assert message.startswith("The model is unsure")
    assert "c0" in message and "45%" in message and "c1, 44%" in message
    spread = np.array([0.55] + [0.05] * 9)  # a clear leader, but everything else is possible
    assert "spread over many classes" in unsure_message(spread, TEN)
    uniform = unsure_message(np.full(10, 0.1), TEN)
    assert "only 10%" in uniform and "spread" in uniform
    # Short: one line under a prediction, naming only the guesses, not every class.
    assert all(len(text) <= 130 and "c7" not in text for text in (message, uniform))
    with pytest.raises(ValueError):
        unsure_message(np.full(3, 1 / 3), TEN)


# --- anatomy ------------------------------------------------------------------------------------


def test_anatomy_of_both_models():
    cifar = model_anatomy(ModelConfig("alexnet_cifar", width=0.25))
    assert cifar.problem is None and cifar.input_size == 32
    model = build_model(ModelConfig("alexnet_cifar", width=0.25))
    assert cifar.params == sum(p.numel() for p in model.parameters())
    assert cifar.flops == cifar.layers["flops"].sum() > 0
    assert cifar.layers["output_shape"].iloc[0] == "16 x 32 x 32"
    assert cifar.weights_mb == pytest.approx(cifar.params * 4 / 1e6)
    alexnet = model_anatomy(ModelConfig("alexnet"))
    assert alexnet.input_size == 227
    assert alexnet.layers["output_shape"].iloc[0] == "64 x 56 x 56"
    assert alexnet.layers["output_shape"].iloc[-1] == "10"


def test_anatomy_explains_inputs_the_network_cannot_take():
    small = model_anatomy(ModelConfig("alexnet"), input_size=32)
    assert "at least 63 px" in small.problem
    assert small.layers.empty and small.flops == 0 and small.params > 0
    tiny = model_anatomy(ModelConfig("alexnet_cifar", width=0.25), input_size=4)
    assert "at least 8 px" in tiny.problem and tiny.layers.empty
    larger = model_anatomy(ModelConfig("alexnet_cifar", width=0.25), input_size=64)
    assert larger.problem is None and larger.layers["output_shape"].iloc[-1] == "10"
