"""The Train page's learning-rate finder: a range test whose loss does not fall says so and
offers no rate; rates are written as people write them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_helpers import button, open_page, stored, texts

from app import charts, nav
from app.state.train import FORM
from app.views.train import tools
from lab.lenses.lr_finder import LrFinderResult, format_rate, smooth, suggest


def test_a_range_test_whose_loss_does_not_fall_suggests_nothing(with_data, empty_runs, monkeypatch):
    monkeypatch.setattr(tools, "LR_FINDER_STEPS", 20)
    # Rates far too small to train: the loss stays where it started.
    monkeypatch.setattr(tools, "LR_FINDER_RANGE", (1e-7, 1e-6))
    at = open_page(nav.TRAIN)
    at.select_slider(key=FORM.key("batch_size")).set_value(16)
    at.select_slider(key=FORM.key("width")).set_value(0.125).run()
    assert "grows from 1.0e-7 to 1.0e-6" in texts(at)
    button(at, "Find a learning rate").click().run()
    assert not at.exception, at.exception[0].message
    result = stored(at, FORM)["lr_finder"][1]
    assert result.suggestion.verdict == "flat" and result.suggestion.lr is None
    assert [w.value for w in at.warning] == [result.suggestion.words]
    assert not [b.label for b in at.button if b.label.startswith("Use ")]
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert not [layer for layer in spec["layer"] if layer["mark"]["type"] in ("rule", "text")]


def test_rates_are_written_as_people_write_them():
    assert format_rate(1.6e-3) == "1.6e-3"
    assert format_rate(0.01) == "1.0e-2"
    assert format_rate(2.0) == "2.0"
    assert format_rate(2.5) == "2.5"
    assert format_rate(10.0) == "1.0e1"


def finder_result(suggested_at: int, steps: int = 60) -> LrFinderResult:
    """A range test of ``steps`` whose loss is flat, then falls fastest at step
    ``suggested_at``, then explodes."""
    lrs = np.logspace(-7, 1, steps)
    fall = np.clip(np.arange(steps) - (suggested_at - 5), 0, 10) / 10
    losses = 2.3 - 1.3 * fall + np.where(np.arange(steps) > suggested_at + 8, 3.0, 0.0)
    return LrFinderResult(lrs, losses, smooth(losses), suggest(lrs, losses), True, "exploded")


@pytest.mark.parametrize(("suggested_at", "align"), [(15, "left"), (48, "right")])
def test_the_suggestion_label_reads_away_from_the_nearer_edge(suggested_at, align):
    result = finder_result(suggested_at)
    assert result.suggestion.verdict == "falls"
    spec = charts.lr_finder(result).to_dict()
    (text,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    assert text["mark"]["align"] == align
