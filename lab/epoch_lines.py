"""The course notebook's lines after each epoch, in one place.

``cifar-lab train`` prints them, and the standalone scripts ``lab.codegen`` writes embed the
source of these two functions, so a script prints exactly what the lab does. Both take plain
values only (a ``history.csv`` row, a number) and use nothing but builtins, so their source runs
anywhere as it is.
"""

from __future__ import annotations


def epoch_line(row: dict) -> str:
    """``Epoch N: Training Loss: ..., Training Accuracy: ...``, then the loss and accuracy of
    each split scored in the epoch (``Validation``, ``Testing``); a split not scored has None."""
    parts = [
        f"Epoch {row['epoch']}: Training Loss: {row['train_loss']:.4f}",
        f"Training Accuracy: {row['train_acc']:.4f}",
    ]
    for split, title in (("val", "Validation"), ("test", "Testing")):
        if row[f"{split}_acc"] is not None:
            parts.append(f"{title} Loss: {row[f'{split}_loss']:.4f}")
            parts.append(f"{title} Accuracy: {row[f'{split}_acc']:.4f}")
    return ", ".join(parts)


def saved_line(value: float) -> str:
    """The line after an epoch whose monitored score is a new best (best.pt written)."""
    return f"Model saved at accuracy of: {value:.4f}"
