"""The Train page's charts: the per-batch loss of a short run fills its plot (its axis fitted to
the losses, not drawn from 0) over whole-numbered batches, and a marked epoch draws no layer
without data (Vega warns "Infinite extent" for each)."""

from __future__ import annotations

import pandas as pd
import pytest

from app import charts
from lab.jobs import BatchLoss


def layers(chart) -> list[dict]:
    spec = chart.to_dict()
    return [spec, *spec.get("layer", [])]


def short_run() -> list[BatchLoss]:
    """Twelve steps whose loss wanders between 2.24 and 2.30, as a short run's does."""
    losses = [2.30, 2.29, 2.30, 2.28, 2.27, 2.28, 2.26, 2.27, 2.25, 2.26, 2.24, 2.25]
    return [BatchLoss(step, 1, loss, loss) for step, loss in enumerate(losses, start=1)]


def test_the_batch_loss_axis_is_fitted_to_the_losses_and_counts_whole_batches():
    drawn = [layer for layer in layers(charts.batch_losses(short_run())) if "mark" in layer]
    assert len(drawn) == 2
    for layer in drawn:
        assert layer["encoding"]["y"]["scale"] == {"zero": False}
        x = layer["encoding"]["x"]
        assert x["field"] == "step" and x["axis"]["format"] == "d"
        assert x["axis"]["tickMinStep"] == 1


@pytest.mark.parametrize("epochs", [[1, 2], [1, 2, 3, 4, 5, 6]])
def test_a_marked_epoch_draws_only_layers_with_data(epochs):
    history = pd.DataFrame(
        {"epoch": epochs, "train_acc": [0.3] * len(epochs), "val_acc": [0.35] * len(epochs)}
    )
    for best in epochs:
        chart = charts.epoch_curves(history, "acc", best)
        spec = chart.to_dict()
        for layer in spec["layer"]:
            rows = spec["datasets"][layer["data"]["name"]] if "data" in layer else None
            side = next((t["filter"] for t in layer.get("transform", []) if "filter" in t), None)
            if rows is not None and side is not None:
                assert [row for row in rows if f"'{row['side']}'" in side], (best, side)
