"""The kept test evaluation: written by fit, read back for every view, invalidated by a new
best.pt, and computed once (with progress) for runs that lack it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lab import runs
from lab.checkpoint import load_model, read_checkpoint
from lab.data import load_dataset
from lab.evaluate import evaluate_model
from lab.io import atomic_save
from lab.runs import EVALUATION
from lab.stored_evaluation import load_evaluation, run_evaluation

pytestmark = pytest.mark.precision


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / "run", copy_function=shutil.copy2)


def test_fit_keeps_the_best_checkpoints_test_predictions(tiny_run, tiny_folder):
    kept = load_evaluation(tiny_run, tiny_run / runs.BEST)
    assert kept is not None
    fresh = evaluate_model(load_model(tiny_run / runs.BEST), load_dataset(tiny_folder).test)
    np.testing.assert_array_equal(kept.labels, fresh.labels)
    np.testing.assert_allclose(kept.probabilities, fresh.probabilities, atol=1e-5)
    assert runs.read_metrics(tiny_run)["test_acc"] == pytest.approx(kept.accuracy)


def test_a_replaced_best_checkpoint_invalidates_the_kept_evaluation(run_copy):
    best = run_copy / runs.BEST
    assert load_evaluation(run_copy, best) is not None
    atomic_save(read_checkpoint(best), best)  # same weights, but a new file
    assert load_evaluation(run_copy, best) is None


@pytest.mark.parametrize("damage", [b"", b"not a checkpoint", None])
def test_a_damaged_or_missing_evaluation_is_not_used(run_copy, damage):
    path = run_copy / EVALUATION
    if damage is None:
        path.unlink()
    else:
        path.write_bytes(damage)
    assert load_evaluation(run_copy, run_copy / runs.BEST) is None


def test_a_run_without_one_gets_it_computed_once_with_progress(run_copy, tiny_folder):
    (run_copy / EVALUATION).unlink()
    seen = []
    dataset = load_dataset(tiny_folder)
    first = run_evaluation(
        run_copy, run_copy / runs.BEST, dataset, progress=lambda done, total: seen.append(done)
    )
    assert seen and seen[-1] == len(dataset.test)
    assert (run_copy / EVALUATION).is_file()
    again = run_evaluation(
        run_copy, run_copy / runs.BEST, dataset, progress=lambda *_: pytest.fail("recomputed")
    )
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
