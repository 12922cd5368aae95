"""Evaluation of a checkpoint on a split: loss, accuracy, top-k, confusion matrix and per-class
precision, recall and F1 (scikit-learn), keeping every prediction for deeper analysis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from lab.augment import preprocess_batch
from lab.checkpoint import LoadedModel
from lab.data import ImageSet, Progress
from lab.device import resolve_precision
from lab.models import predict_logits


@dataclass(frozen=True)
class Evaluation:
    """Every prediction of one checkpoint on one split, and the metrics derived from them."""

    classes: tuple[str, ...]
    labels: np.ndarray  # (N,) true class indices
    probabilities: np.ndarray  # (N, C) softmax outputs
    loss: float  # mean cross-entropy

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean())

    def top_k_accuracy(self, k: int) -> float:
        top = np.argsort(-self.probabilities, axis=1)[:, :k]
        return float((top == self.labels[:, None]).any(axis=1).mean())

    def confusion(self, normalize: bool = False) -> np.ndarray:
        """Rows are true classes, columns predicted; normalised rows sum to 1."""
        matrix = confusion_matrix(self.labels, self.predictions, labels=range(len(self.classes)))
        if normalize:
            return matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        return matrix

    def per_class(self) -> pd.DataFrame:
        precision, recall, f1, support = precision_recall_fscore_support(
            self.labels, self.predictions, labels=range(len(self.classes)), zero_division=0
        )
        return pd.DataFrame(
            {
                "class": self.classes,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": support,
            }
        )

    def summary(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "top5_accuracy": self.top_k_accuracy(min(5, len(self.classes))),
            "images": int(len(self.labels)),
        }


def network_inputs(loaded: LoadedModel, raw: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 3, H, W)`` as the checkpoint's network takes them: its test
    transform and statistics, at its input size, channels_last."""
    x = preprocess_batch(raw, loaded.config.augment, loaded.mean, loaded.std)
    if x.shape[-1] != loaded.input_size:
        x = F.interpolate(x, size=(loaded.input_size,) * 2, mode="bilinear", antialias=True)
    return x.contiguous(memory_format=torch.channels_last)


def evaluate_model(
    loaded: LoadedModel,
    data: ImageSet,
    *,
    batch_size: int = 1000,
    precision: str | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Run ``loaded`` over ``data`` with its own test transform, statistics and precision
    (``precision`` asks for another); ``progress`` hears (images done, images in all) after
    every batch."""
    model = loaded.model.eval()
    device = next(model.parameters()).device
    precision = resolve_precision(precision or loaded.precision, device)
    config = loaded.config
    probabilities, loss_sum = [], 0.0
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            labels = data.labels[start : start + batch_size].to(device)
            logits = predict_logits(
                model,
                network_inputs(loaded, data.images[start : start + batch_size].to(device)),
                device=device,
                precision=precision,
                tta_flip=config.train.tta_flip,
            )
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            probabilities.append(torch.softmax(logits, dim=1).cpu().numpy())
            if progress is not None:
                progress(min(start + batch_size, len(data)), len(data))
    return Evaluation(
        classes=loaded.classes,
        labels=data.labels.numpy(),
        probabilities=np.concatenate(probabilities) if probabilities else np.zeros((0, 0)),
        loss=loss_sum / max(len(data), 1),
    )
