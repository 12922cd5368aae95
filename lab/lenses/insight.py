"""Insight: what a checkpoint learned, how its training went, and why one checkpoint beats another.

Plain computations on what the rest of the lab already produces (an ``Evaluation``, a run's
history and config, the layer summary), returning numpy arrays, DataFrames and frozen
dataclasses that a page can chart directly:

* errors: the most-confused class pairs and the top losses;
* calibration: reliability-diagram bins and the expected calibration error;
* two checkpoints: per-class accuracy difference, normalised-confusion difference,
  disagreements, config diff and overlaid curves;
* a plain-language hint when a single prediction is unsure;
* the model anatomy.

How a run's training went (the patience what-if, the generalisation gap) is
``lab.lenses.dynamics``, read from its history rather than from an evaluation.

Grad-CAM, the learning-rate finder, the augmentation robustness sweep and the run card export
are the other modules of ``lab.lenses``: ``gradcam``, ``lr_finder``, ``robustness`` and
``run_card``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.config import ModelConfig, check_input_size
from lab.errors import ConfigError, LabError
from lab.evaluate import Evaluation
from lab.models import build_model, summarize

# Probabilities are clipped here before the log, so a confidently wrong image has a large but
# finite loss (float32 softmax can round a tiny probability to exactly 0).
MIN_PROBABILITY = 1e-12
# A prediction is called unsure when its top probability is below this ...
UNSURE_TOP_PROBABILITY = 0.5
# ... or when its entropy exceeds this fraction of the maximum (log of the number of classes).
UNSURE_ENTROPY_FRACTION = 0.6


# --- errors -------------------------------------------------------------------------------------


def most_confused(evaluation: Evaluation, top: int | None = 10) -> pd.DataFrame:
    """The off-diagonal cells of the confusion matrix, largest first.

    Columns: ``true``, ``predicted`` (class names), ``count`` and ``share`` (the fraction of the
    true class's images that were predicted as ``predicted``). ``top=None`` keeps every pair
    that occurred at least once.
    """
    matrix = evaluation.confusion()
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    true, predicted = np.nonzero(off_diagonal)
    counts = off_diagonal[true, predicted]
    # Largest count first; ties in class order, so the table is stable between renders.
    order = np.lexsort((predicted, true, -counts))[:top]
    support = matrix.sum(axis=1)
    classes = np.asarray(evaluation.classes, dtype=object)
    return pd.DataFrame(
        {
            "true": classes[true[order]],
            "predicted": classes[predicted[order]],
            "count": counts[order].astype(int),
            "share": counts[order] / support[true[order]],
        }
    )


def top_losses(
    evaluation: Evaluation,
    k: int | None = 16,
    *,
    only_wrong: bool = True,
    true_class: str | None = None,
) -> pd.DataFrame:
    """The images with the highest cross-entropy, worst first: the ones the model got most wrong.

    Columns: ``index`` (position in the evaluated split, e.g. ``dataset.test.images[index]``),
    ``true``, ``predicted``, ``confidence`` (probability of the prediction),
    ``true_probability`` and ``loss`` (``-log`` of the true class's probability).
    ``only_wrong`` drops correct predictions; ``true_class`` keeps one true class.
    """
    labels = evaluation.labels
    probabilities = evaluation.probabilities
    predictions = evaluation.predictions
    rows = np.arange(len(labels))
    true_probability = probabilities[rows, labels]
    loss = -np.log(np.clip(true_probability, MIN_PROBABILITY, None))
    keep = np.ones(len(labels), dtype=bool)
    if only_wrong:
        keep &= predictions != labels
    if true_class is not None:
        keep &= labels == _class_index(evaluation.classes, true_class)
    index = rows[keep]
    index = index[np.argsort(-loss[index], kind="stable")][:k]
    classes = np.asarray(evaluation.classes, dtype=object)
    return pd.DataFrame(
        {
            "index": index,
            "true": classes[labels[index]],
            "predicted": classes[predictions[index]],
            "confidence": probabilities[index, predictions[index]],
            "true_probability": true_probability[index],
            "loss": loss[index],
        }
    )


def _class_index(classes: Sequence[str], name: str) -> int:
    if name not in classes:
        raise ConfigError(f"unknown class '{name}': choose one of {', '.join(classes)}")
    return list(classes).index(name)


# --- calibration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Reliability-diagram data and the expected calibration error (ECE) of one evaluation.

    ``bins`` has one row per equal-width confidence bin: ``lower``, ``upper``, ``count``,
    ``confidence`` (mean top probability in the bin), ``accuracy`` and ``gap`` (confidence minus
    accuracy: positive = over-confident). Empty bins have count 0 and NaN in the other columns.
    ``ece`` is the count-weighted mean of ``|gap|``; ``max_gap`` the largest ``|gap|``.
    """

    bins: pd.DataFrame
    ece: float
    max_gap: float


def calibration(evaluation: Evaluation, bins: int = 10) -> Calibration:
    """Bin the predictions by their top probability and compare confidence with accuracy."""
    if bins < 1:
        raise ConfigError(f"bins must be at least 1, got {bins}")
    if len(evaluation.labels) == 0:
        raise LabError("calibration needs at least one prediction")
    confidence = evaluation.probabilities.max(axis=1).astype(np.float64)
    correct = (evaluation.predictions == evaluation.labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bins are (lower, upper]; a confidence of exactly 0 joins the first.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, minlength=bins) / count
        accuracy = np.bincount(which, correct, minlength=bins) / count
    gap = mean_confidence - accuracy
    filled = count > 0
    weights = count[filled] / count.sum()
    return Calibration(
        bins=pd.DataFrame(
            {
                "lower": edges[:-1],
                "upper": edges[1:],
                "count": count,
                "confidence": mean_confidence,
                "accuracy": accuracy,
                "gap": gap,
            }
        ),
        ece=float(np.sum(weights * np.abs(gap[filled]))),
        max_gap=float(np.max(np.abs(gap[filled]))),
    )


# --- two checkpoints ----------------------------------------------------------------------------


def _check_comparable(a: Evaluation, b: Evaluation) -> None:
    if tuple(a.classes) != tuple(b.classes):
        raise LabError(
            f"the checkpoints have different classes ({list(a.classes)} vs {list(b.classes)})"
        )
    if a.labels.shape != b.labels.shape or not np.array_equal(a.labels, b.labels):
        raise LabError("the two evaluations are on different images: evaluate both on one split")


def class_accuracy_difference(a: Evaluation, b: Evaluation) -> pd.DataFrame:
    """Per-class accuracy (recall) of ``a`` and ``b`` and ``difference`` = b - a."""
    _check_comparable(a, b)
    accuracy_a = a.confusion(normalize=True).diagonal()
    accuracy_b = b.confusion(normalize=True).diagonal()
    return pd.DataFrame(
        {
            "class": list(a.classes),
            "accuracy_a": accuracy_a,
            "accuracy_b": accuracy_b,
            "difference": accuracy_b - accuracy_a,
        }
    )


def confusion_difference(a: Evaluation, b: Evaluation) -> np.ndarray:
    """``b``'s row-normalised confusion matrix minus ``a``'s: (C, C), rows true, columns predicted.

    A positive diagonal cell means b gets that class right more often; a positive off-diagonal
    cell means b makes that particular mistake more often.
    """
    _check_comparable(a, b)
    return b.confusion(normalize=True) - a.confusion(normalize=True)


def matrix_frame(matrix: np.ndarray, classes: Sequence[str], value: str = "value") -> pd.DataFrame:
    """A (C, C) class matrix in long form (``true``, ``predicted``, ``value``) for a heatmap."""
    size = len(classes)
    if matrix.shape != (size, size):
        raise ValueError(f"matrix of shape {matrix.shape} does not match {size} classes")
    true, predicted = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame(
        {
            "true": names[true.ravel()],
            "predicted": names[predicted.ravel()],
            value: matrix.ravel(),
        }
    )


DISAGREEMENT_MATCHES = ("true", "any")


def disagreements(
    a: Evaluation,
    b: Evaluation,
    *,
    class_name: str | None = None,
    match: str = "true",
) -> pd.DataFrame:
    """The images on which the two checkpoints predict different classes.

    Columns: ``index``, ``true``, ``predicted_a``, ``predicted_b``, ``confidence_a``,
    ``confidence_b`` and ``correct`` (``"a"``, ``"b"`` or ``"neither"``). With ``class_name``,
    ``match="true"`` keeps images of that true class, ``match="any"`` images where it is the true
    class or either prediction.
    """
    _check_comparable(a, b)
    if match not in DISAGREEMENT_MATCHES:
        raise ConfigError(f"unknown match '{match}': choose one of {DISAGREEMENT_MATCHES}")
    pred_a, pred_b, labels = a.predictions, b.predictions, a.labels
    keep = pred_a != pred_b
    if class_name is not None:
        wanted = _class_index(a.classes, class_name)
        involved = labels == wanted
        if match == "any":
            involved |= (pred_a == wanted) | (pred_b == wanted)
        keep &= involved
    index = np.flatnonzero(keep)
    classes = np.asarray(a.classes, dtype=object)
    correct = np.where(
        pred_a[index] == labels[index],
        "a",
        np.where(pred_b[index] == labels[index], "b", "neither"),
    )
    return pd.DataFrame(
        {
            "index": index,
            "true": classes[labels[index]],
            "predicted_a": classes[pred_a[index]],
            "predicted_b": classes[pred_b[index]],
            "confidence_a": a.probabilities[index, pred_a[index]],
            "confidence_b": b.probabilities[index, pred_b[index]],
            "correct": correct,
        }
    )


def flatten_config(config: Mapping | object, prefix: str = "") -> dict[str, object]:
    """A nested config (a ``RunConfig`` or its dict) as ``{"train.lr": 0.001, ...}``."""
    if not isinstance(config, Mapping):
        config = config.to_dict()
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{name}."))
        else:
            # JSON turns tuples into lists; compare like with like.
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def config_diff(
    a: Mapping | object, b: Mapping | object, *, only_differences: bool = True
) -> pd.DataFrame:
    """Two run configs side by side: ``setting``, ``a``, ``b``, ``differs``.

    Settings are dotted (``train.lr``); one missing from a config (an older run) shows as None
    and differs. With ``only_differences=False`` every setting is listed, for highlighting.
    """
    flat_a, flat_b = flatten_config(a), flatten_config(b)
    names = list(flat_a) + [name for name in flat_b if name not in flat_a]
    rows = []
    for name in names:
        differs = (name in flat_a) != (name in flat_b) or flat_a.get(name) != flat_b.get(name)
        if differs or not only_differences:
            rows.append(
                {"setting": name, "a": flat_a.get(name), "b": flat_b.get(name), "differs": differs}
            )
    return pd.DataFrame(rows, columns=["setting", "a", "b", "differs"])


CURVE_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


# --- one prediction -----------------------------------------------------------------------------


def entropy_fraction(probabilities: np.ndarray) -> float:
    """Entropy of one probability vector as a fraction of its maximum (0 = certain, 1 = uniform)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.size < 2:
        return 0.0
    nonzero = p[p > 0]
    return float(-(nonzero * np.log(nonzero)).sum() / math.log(p.size))


def unsure_message(
    probabilities: np.ndarray,
    classes: Sequence[str],
    *,
    min_top: float = UNSURE_TOP_PROBABILITY,
    max_entropy: float = UNSURE_ENTROPY_FRACTION,
) -> str | None:
    """A plain-language warning when one prediction is unsure, else None.

    Unsure means the top probability is below ``min_top`` or the entropy is above
    ``max_entropy`` of its maximum. A classifier always answers with one of its classes, so an
    unsure answer often means the image shows none of them.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (len(classes),):
        raise ValueError(f"{p.shape[0]} probabilities for {len(classes)} classes")
    top = int(p.argmax())
    spread = entropy_fraction(p)
    low_top, high_entropy = p[top] < min_top, spread > max_entropy
    if not (low_top or high_entropy):
        return None
    if low_top and high_entropy:
        why = f"{classes[top]} has only {p[top]:.0%}, the rest is spread over many classes"
    elif low_top:
        runner_up = int(np.argsort(-p)[1])
        why = f"{classes[top]} has only {p[top]:.0%} (next: {classes[runner_up]}, "
        why += f"{p[runner_up]:.0%})"
    else:
        why = f"{classes[top]} leads with {p[top]:.0%}, but the rest is spread over many classes"
    return f"The model is unsure: {why}. The image may show none of its {len(classes)} classes."


# --- model anatomy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anatomy:
    """The layer table of a model at one input size, and its totals.

    ``layers`` columns: ``layer``, ``type``, ``output_shape`` (e.g. "64 x 55 x 55"),
    ``params`` and ``flops`` (per image). ``problem`` explains in plain words why the model
    cannot run at this size; the table is then empty and ``flops`` 0.
    """

    model: str
    input_size: int
    layers: pd.DataFrame
    params: int
    flops: int
    problem: str | None

    @property
    def weights_mb(self) -> float:
        """Size of the float32 weights in megabytes."""
        return self.params * 4 / 1e6


def model_anatomy(
    config: ModelConfig, input_size: int | None = None, num_classes: int = 10
) -> Anatomy:
    """Build ``config``'s model and summarise it (``lab.models.summarize``) at ``input_size``
    (default: the size it is built for)."""
    size = input_size or config.input_size
    model = build_model(config, num_classes)
    params = sum(p.numel() for p in model.parameters())
    columns = ["layer", "type", "output_shape", "params", "flops"]
    problem, rows = None, []
    try:
        check_input_size(config, size)
        rows = summarize(model, size)
    except ConfigError as error:
        problem = str(error)
    layers = pd.DataFrame(rows, columns=columns)
    layers["output_shape"] = [" x ".join(map(str, shape)) for shape in layers["output_shape"]]
    return Anatomy(config.name, size, layers, int(params), int(layers["flops"].sum()), problem)
