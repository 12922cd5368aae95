"""The notebook's epoch lines, word for word, for the splits an epoch scored."""

from __future__ import annotations

import pytest

from lab.epoch_lines import epoch_line, saved_line

TRAIN = {"epoch": 3, "train_loss": 1.23456, "train_acc": 0.5}
NONE = {"val_loss": None, "val_acc": None, "test_loss": None, "test_acc": None}


@pytest.mark.parametrize(
    ("scored", "expected"),
    [
        ({}, "Epoch 3: Training Loss: 1.2346, Training Accuracy: 0.5000"),
        (
            {"val_loss": 0.9, "val_acc": 0.61234},
            "Epoch 3: Training Loss: 1.2346, Training Accuracy: 0.5000, "
            "Validation Loss: 0.9000, Validation Accuracy: 0.6123",
        ),
        (
            {"test_loss": 0.8, "test_acc": 0.7},
            "Epoch 3: Training Loss: 1.2346, Training Accuracy: 0.5000, "
            "Testing Loss: 0.8000, Testing Accuracy: 0.7000",
        ),
        (
            {"val_loss": 0.9, "val_acc": 0.6, "test_loss": 0.8, "test_acc": 0.7},
            "Epoch 3: Training Loss: 1.2346, Training Accuracy: 0.5000, "
            "Validation Loss: 0.9000, Validation Accuracy: 0.6000, "
            "Testing Loss: 0.8000, Testing Accuracy: 0.7000",
        ),
    ],
)
def test_epoch_line(scored, expected):
    assert epoch_line({**TRAIN, **NONE, **scored}) == expected


def test_saved_line():
    assert saved_line(0.82994) == "Model saved at accuracy of: 0.8299"
