"""Early stopping as a pure decision, over parametrised sequences (as Lightning tests it)."""

from __future__ import annotations

import math

import pytest

from lab.early_stopping import EarlyStopping, replay
from lab.errors import ConfigError


def run(values, **kwargs):
    stopper = EarlyStopping(**kwargs)
    for value in values:
        stop, reason = stopper.update(value)
        if stop:
            return stopper.epoch, stopper.best_epoch, reason
    return None, stopper.best_epoch, None


# The notebook: improvements up to epoch 24, then six epochs without one -> stop after 30.
NOTEBOOK = [0.40 + 0.01 * i for i in range(24)] + [0.60, 0.62, 0.61, 0.63, 0.60, 0.59]


@pytest.mark.parametrize(
    ("values", "kwargs", "stop_epoch", "best_epoch"),
    [
        (NOTEBOOK, {"patience": 5}, 30, 24),
        ([0.5, 0.6, 0.7], {"patience": 0}, None, 3),
        ([0.5, 0.5], {"patience": 0}, 2, 1),
        ([0.5, 0.4, 0.4, 0.4], {"patience": 2}, 4, 1),
        ([0.5, 0.4, 0.4, 0.6, 0.4, 0.4], {"patience": 2}, None, 4),
        ([0.5, 0.505, 0.509], {"patience": 1, "min_delta": 0.01}, 3, 1),
        ([0.5, 0.52, 0.51], {"patience": 1, "min_delta": 0.01}, None, 2),
        ([1.0, 0.8, 0.9, 0.85], {"patience": 1, "mode": "min"}, 4, 2),
        ([1.0, 0.8, 0.7, 0.6], {"patience": 1, "mode": "min"}, None, 4),
    ],
)
def test_stop_and_best_epochs(values, kwargs, stop_epoch, best_epoch):
    stopped_at, best, reason = run(values, **kwargs)
    assert stopped_at == stop_epoch
    assert best == best_epoch
    assert (reason is None) == (stop_epoch is None)


def test_notebook_reason_names_patience_and_best():
    _, _, reason = run(NOTEBOOK, patience=5)
    assert "patience 5" in reason and "epoch 24" in reason


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_stop_as_diverged(bad):
    stopper = EarlyStopping(patience=5)
    stopper.update(0.5)
    stop, reason = stopper.update(bad)
    assert stop and reason.startswith("diverged")
    assert stopper.best == 0.5


def test_state_round_trip_continues_identically():
    first = EarlyStopping(patience=5)
    for value in NOTEBOOK[:26]:
        first.update(value)
    second = EarlyStopping(patience=5)
    second.load_state_dict(first.state_dict())
    results = [second.update(v) for v in NOTEBOOK[26:]]
    assert results[-1][0] and second.epoch == 30 and second.best_epoch == 24


def test_replay_agrees_with_the_object():
    assert replay(NOTEBOOK, patience=5) == {
        "stop_epoch": 30,
        "best_epoch": 24,
        "reason": run(NOTEBOOK, patience=5)[2],
    }
    assert replay(NOTEBOOK, patience=10)["stop_epoch"] is None


@pytest.mark.parametrize("kwargs", [{"patience": -1}, {"mode": "up"}, {"min_delta": -0.1}])
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        EarlyStopping(**kwargs)
