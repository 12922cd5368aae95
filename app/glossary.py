"""Plain words for what the lab shows: every metric, table column and abbreviation a student
meets, explained once. Pages take the help of their metrics and columns from ``TERMS``, and the
sidebar's Glossary lists them all, so the words are the same wherever they appear. A word that
names a setting or one of its choices is explained by that setting's declared help
(``lab.config``), which its control's tooltip shows too."""

from __future__ import annotations

import streamlit as st

from lab.config import SETTINGS

# The words that name a setting (or a choice of one), and the setting (its key) that explains
# them.
SETTING_TERMS = {
    "width": "width",
    "one-cycle": "schedule",
    "label smoothing": "label_smoothing",
    "patience": "patience",
    "min delta": "min_delta",
    "TTA (flip averaging)": "tta_flip",
    "bf16": "precision",
}
WORDS = {
    "epoch": "One pass of the network over every training image.",
    "batch": "The handful of images the network sees before each weight update.",
    "train_loss": "How wrong the network is on the training images, averaged over the epoch "
    "(cross-entropy: 0 is perfect, 2.3 is guessing among 10 classes). Lower is better.",
    "train_acc": "Share of the training images the network classified right during the epoch.",
    "val_loss": "The loss on the validation images: training images held back, never learned "
    "from, so it shows how the network does on images it has not seen.",
    "val_acc": "Share of the validation images classified right. The lab picks the best epoch "
    "by it, so the test images stay unseen until the end.",
    "test_loss": "The loss on the test split, the images kept apart for the final score.",
    "test_acc": "Share of the test images classified right: the run's final, honest score "
    "when the best epoch was picked on validation images.",
    "lr": "The learning rate at the start of that epoch: how big a step each weight update "
    "takes. With the one-cycle schedule it changes from batch to batch.",
    "seconds": "How long the epoch took, training and scoring together.",
    "images_per_s": "Training speed: images the network learned from per second.",
    "best epoch": "The epoch with the best score on the monitored split; its weights are kept "
    "as best.pt.",
    "parameters": "The numbers the network learns (weights and biases).",
    "FLOPs": "Floating-point operations to classify one image: how much arithmetic the "
    "network costs.",
    "mean / std": "The average brightness of each colour channel and its spread. Normalising "
    "subtracts the mean and divides by the std, so every channel has a similar range.",
    "Grad-CAM": "A heatmap of the image regions that raised the score of one class the most, "
    "read from the last convolutional layer. It shows where the network looked, not why.",
    "ECE": "Expected calibration error: how far the network's confidence is from its real "
    "accuracy, averaged over confidence bins. 0 means a 70% answer is right 70% of the time.",
    "acc_gap": "Training accuracy minus held-out accuracy. Growing gaps mean the network "
    "memorises the training images (overfitting).",
    "loss_gap": "Held-out loss minus training loss; like acc_gap, it grows when the network "
    "overfits.",
    "checkpoint": "A saved copy of the network's weights and settings (best.pt: the best "
    "epoch; last.pt: the latest, for resuming).",
    "sweep": "Several runs with different learning rates (and patience values) in one go. "
    "Each learning rate trains once with the largest patience; smaller patience values are "
    "replayed from its history instead of trained again.",
}
TERMS = WORDS | {term: SETTINGS[key].spec.help for term, key in SETTING_TERMS.items()}


def popover() -> None:
    """The glossary, one line per term, behind a button."""
    with st.popover("Glossary", icon=":material/menu_book:", width="stretch"):
        st.markdown("\n".join(f"- **{name}**: {text}" for name, text in TERMS.items()))
