"""Metrics of an Evaluation on hand-made predictions, and a real checkpoint evaluation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab import runs
from lab.checkpoint import load_model
from lab.data import load_dataset
from lab.device import resolve_precision
from lab.evaluate import Evaluation, evaluate_model
from lab.fit import fit
from lab.launch import prepare_run
from tests.conftest import tiny_config

pytestmark = pytest.mark.precision


def hand_made() -> Evaluation:
    probabilities = np.array(
        [
            [0.7, 0.2, 0.1],  # true 0, predicted 0
            [0.5, 0.4, 0.1],  # true 1, predicted 0 (1 is second)
            [0.1, 0.8, 0.1],  # true 1, predicted 1
            [0.3, 0.6, 0.1],  # true 2, predicted 1 (2 is last)
        ]
    )
    return Evaluation(("a", "b", "c"), np.array([0, 1, 1, 2]), probabilities, loss=1.0)


def test_accuracy_top_k_and_confusion():
    result = hand_made()
    assert result.accuracy == 0.5
    assert result.top_k_accuracy(2) == 0.75
    assert result.confusion().tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert result.confusion(normalize=True)[1].tolist() == [0.5, 0.5, 0.0]


def test_per_class_precision_recall_f1():
    table = hand_made().per_class().set_index("class")
    assert table.loc["a", "precision"] == 0.5 and table.loc["a", "recall"] == 1.0
    assert table.loc["b", "precision"] == 0.5 and table.loc["b", "recall"] == 0.5
    assert table.loc["c", "f1"] == 0.0 and table.loc["c", "support"] == 1


def test_evaluate_model_agrees_with_training_metrics(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=2)
    prepared = prepare_run(config, tmp_path, name="e")
    result = fit(prepared)
    evaluation = evaluate_model(load_model(result.run_dir / "best.pt"), prepared.splits.test)
    assert evaluation.accuracy == pytest.approx(result.metrics["test_acc"], abs=1e-9)
    assert evaluation.loss == pytest.approx(result.metrics["test_loss"], rel=1e-3)
    splits = prepared.splits
    assert evaluation.probabilities.shape == (len(splits.test), len(splits.classes))
    assert np.allclose(evaluation.probabilities.sum(axis=1), 1.0, atol=1e-5)


def as_trained_in(loaded, precision: str):
    """The same weights, as a run whose settings say it trained in ``precision``."""
    return replace(loaded, config=loaded.config.with_overrides(train={"precision": precision}))


@pytest.mark.parametrize("trained_in", ["fp32", "bf16", "auto"])
def test_a_checkpoint_is_evaluated_in_its_runs_own_precision(tiny_run, tiny_folder, trained_in):
    loaded = as_trained_in(load_model(tiny_run / runs.BEST), trained_in)
    test = load_dataset(tiny_folder).test
    own = resolve_precision(trained_in, torch.device("cpu"))
    other = "bf16" if own == "fp32" else "fp32"
    default = evaluate_model(loaded, test).probabilities
    asked = evaluate_model(loaded, test, precision=own).probabilities
    np.testing.assert_array_equal(default, asked)
    # bf16 autocast runs on every x86 CPU (emulated where it is not native), so both paths
    # are exercised on any host, and the two give different numbers.
    assert not np.array_equal(default, evaluate_model(loaded, test, precision=other).probabilities)
