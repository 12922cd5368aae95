"""The Checkpoints page's runs table: a stopped run, which has no test score until one is asked
for, shows a dash (not "None"), and the column's help says why; a finished run's score is
written beside it."""

from __future__ import annotations

import json

from app_helpers import open_page, tiny_run_config

from app import nav
from app.views.checkpoints import NOT_SCORED
from lab.fit import fit
from lab.launch import prepare_run
from lab.runs import read_metrics
from lab.train import EpochEvent, TrainControl


def stopped_run(data, runs_dir, name: str) -> None:
    control = TrainControl()

    def stop_after_an_epoch(event) -> None:
        if isinstance(event, EpochEvent):
            control.request_stop()

    prepared = prepare_run(tiny_run_config(data, epochs=3), runs_dir, name=name)
    fit(prepared, control=control, callbacks=(stop_after_an_epoch,))


def test_a_stopped_run_has_a_dash_for_its_test_score_with_a_help_saying_why(with_data, with_runs):
    stopped_run(with_data, with_runs, "tiny-stopped")
    at = open_page(nav.CHECKPOINTS)
    assert not at.exception, at.exception[0].message
    (frame,) = [table for table in at.dataframe if "test acc" in table.value.columns]
    scores = frame.value["test acc"]
    assert scores["tiny-stopped"] == NOT_SCORED == "—"
    finished = read_metrics(with_runs / "tiny-a")["test_acc"]
    assert scores["tiny-a"] == f"{finished:.2%}"
    config = json.loads(frame.proto.columns)
    assert "scored on demand" in config["test acc"]["help"]
