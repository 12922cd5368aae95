"""Sweeps on the tiny folder: a replayed patience is what training with it gives, its kept
checkpoint holds the same weights, and a stopped sweep resumes where it was."""

from __future__ import annotations

import json
import os

import pytest
import torch

from lab import runs
from lab.checkpoint import read_checkpoint
from lab.config import SETTINGS, RunConfig
from lab.data import load_dataset
from lab.errors import ConfigError
from lab.fit import fit
from lab.launch import prepare_run
from lab.outcome import Outcome
from lab.presets import PRESET_NAMES, preset_config
from lab.sweep import (
    MAX_RUNS,
    SWEPT,
    create_sweep,
    describe,
    format_values,
    list_sweeps,
    parse_values,
    read_sweep,
    results_frame,
    run_sweep,
    values_around,
)
from lab.train import EpochEvent, TrainControl
from tests.conftest import tiny_config

CPU = torch.device("cpu")


def test_parse_values():
    assert parse_values("1e-3, 2e-3", float) == (0.001, 0.002)
    assert parse_values("0,2", int) == (0, 2)
    with pytest.raises(ConfigError, match="not a list of int values"):
        parse_values("1,x", int)
    with pytest.raises(ConfigError, match="empty value"):
        parse_values("1,,2", int)


@pytest.mark.parametrize("values", [(0.375, 0.75, 1.5), (1e-3, 2e-3), (2, 5, 10), (0,)])
def test_values_are_written_as_they_are_read(values):
    assert parse_values(format_values(values), type(values[0])) == values


@pytest.mark.parametrize("key", SWEPT)
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_a_sweep_starts_from_values_around_the_presets_own(preset, key):
    """Every swept setting of every preset: its own value and values either side of it, each
    a stop of its control, within the control's range and accepted by the config."""
    config = preset_config(preset, "/data")
    declared, own = SETTINGS[key], config.settings()[key]
    values = values_around(config, key)
    assert own in values and len(values) > 1
    assert list(values) == sorted(set(values))
    low, high = declared.control_range()
    for value in values:
        assert low <= value <= high
        assert value in declared.spec.options or not declared.spec.options
        assert config.with_settings({key: value}).settings()[key] == value


@pytest.mark.parametrize(
    ("preset", "changed", "key", "values"),
    [
        ("cpu-1min", {}, "lr", (0.375, 0.75, 1.5)),  # half, its own and twice the preset's
        ("notebook", {}, "lr", (5e-4, 1e-3, 2e-3)),
        ("cpu-fast", {}, "lr", (1e-3, 2e-3, 5e-3)),  # 4e-3 is no stop: 5e-3 is the nearest
        ("cpu-1min", {}, "patience", (2, 3, 6)),
        ("notebook", {}, "patience", (2, 5, 10)),
        ("cpu-fast", {"patience": 1}, "patience", (0, 1, 2)),  # a whole number either side
        ("cpu-fast", {"patience": 0}, "patience", (0, 1)),  # none below 0
        ("cpu-fast", {"patience": 30}, "patience", (15, 30)),  # none above the control's 30
        ("cpu-5min", {}, "batch_size", (256, 512, 1024)),
        ("cpu-5min", {"batch_size": 1024}, "batch_size", (512, 1024)),
        ("cpu-1min", {}, "epochs", (2, 3, 6)),
        ("cpu-fast", {"epochs": 1}, "epochs", (1, 2)),
        ("cpu-fast", {"epochs": 120}, "epochs", (60, 120)),  # its own beyond the control
        ("cpu-fast", {"lr": 0.0123}, "lr", (7e-3, 0.0123, 0.03)),  # its own need not be a stop
    ],
)
def test_the_values_around_a_config(preset, changed, key, values):
    config = preset_config(preset, "/data").with_settings(changed)
    assert values_around(config, key) == pytest.approx(values)


def test_only_a_swept_setting_has_values_around_it():
    with pytest.raises(ConfigError, match="a sweep varies lr, patience, batch_size, epochs"):
        values_around(RunConfig(), "width")


def test_a_grid_is_checked_before_anything_is_written(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        create_sweep(config, {"lr": [1e-3, -1.0]}, tmp_path)
    with pytest.raises(ConfigError, match="patience must be >= 0"):
        create_sweep(config, {"patience": [2, -1]}, tmp_path)
    with pytest.raises(ConfigError, match="not min_delta"):
        create_sweep(config, {"min_delta": [0.1]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("grid", "runs"),
    [
        ({"lr": [i / 1e4 for i in range(1, 1001)], "batch_size": [16, 32, 64]}, 3000),
        (
            {
                "lr": [1e-3, 2e-3, 3e-3, 4e-3, 5e-3],
                "batch_size": [16, 32, 64],
                "epochs": [1, 2, 3, 4, 5],
            },
            75,
        ),
    ],
)
def test_a_grid_of_more_runs_than_the_cap_is_refused_before_anything_is_written(
    tiny_folder, tmp_path, grid, runs
):
    with pytest.raises(ConfigError) as caught:
        create_sweep(tiny_config(tiny_folder), grid, tmp_path)
    assert f"this grid trains {runs} runs" in str(caught.value)
    assert f"a sweep trains at most {MAX_RUNS}" in str(caught.value)
    assert caught.value.setting == "lr" and list(tmp_path.iterdir()) == []


def test_a_grid_of_the_cap_is_accepted(tiny_folder, tmp_path):
    grid = {"lr": [i / 1e4 for i in range(1, MAX_RUNS // 2 + 1)], "batch_size": [16, 32]}
    sweep_dir = create_sweep(tiny_config(tiny_folder), grid, tmp_path)
    assert len(read_sweep(sweep_dir)["runs"]) == MAX_RUNS


def test_list_sweeps_finds_the_folders_with_a_sweep_file(tiny_folder, tmp_path):
    assert list_sweeps(tmp_path / "missing") == []
    config = tiny_config(tiny_folder)
    older = create_sweep(config, {"patience": [0, 1]}, tmp_path, name="older")
    newer = create_sweep(config, {"lr": [1e-3, 2e-3]}, tmp_path, name="newer")
    os.utime(older / "sweep.json", (1, 1))
    runs.create_run_dir(tmp_path, "a-plain-run")
    assert list_sweeps(tmp_path) == [newer, older]


def test_replayed_patience_is_what_training_with_it_gives(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=8, lr=1e-3, precision="fp32")
    dataset = load_dataset(config.data.source)
    sweep_dir = create_sweep(config, {"patience": [0, 1]}, tmp_path, name="grid")
    assert "patience 0 is replayed from its history (no retraining)" in describe(
        read_sweep(sweep_dir)
    )
    ended = run_sweep(sweep_dir, dataset=dataset, device=CPU)
    assert ended["state"] == "finished" and ended == read_sweep(sweep_dir)
    (run,) = ended["runs"]
    run_dir = sweep_dir / run["run"]
    replayed, trained = ended["results"]
    assert (replayed["patience"], replayed["trained"]) == (0, False)
    assert (trained["patience"], trained["trained"]) == (1, True)
    assert trained["stop_epoch"] == len(runs.read_history(run_dir))

    real = fit(
        prepare_run(
            config.with_settings({"patience": 0}), tmp_path, name="patience-0", dataset=dataset
        ),
        device=CPU,
    )
    assert real.outcome is Outcome.EARLY_STOPPED
    assert replayed["stop_epoch"] == len(real.history)
    assert replayed["best_epoch"] == real.metrics["best_epoch"]
    assert replayed["best_val_acc"] == pytest.approx(real.metrics["best_val_acc"])
    assert replayed["test_acc"] == pytest.approx(real.metrics["test_acc"])
    # Patience 1 went on to a later best, so patience 0's weights are kept beside best.pt ...
    assert trained["best_epoch"] > replayed["best_epoch"]
    assert (replayed["checkpoint"], trained["checkpoint"]) == ("best-p0.pt", "best.pt")
    kept = read_checkpoint(run_dir / "best-p0.pt")
    assert kept["epoch"] == replayed["best_epoch"]
    real_best = read_checkpoint(real.run_dir / "best.pt")["model"]
    assert all(torch.equal(kept["model"][key], real_best[key]) for key in real_best)
    # ... and no other snapshot is left behind.
    snapshots = sorted(p.name for p in run_dir.glob("*.pt"))
    assert snapshots == ["best-p0.pt", "best.pt", "evaluation.pt", "last.pt"]
    frame = results_frame(ended)
    assert frame["patience"].tolist() == [0, 1] and frame["run"].nunique() == 1


def test_a_stopped_sweep_resumes_where_it_was(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=2, precision="fp32")
    dataset = load_dataset(config.data.source)
    sweep_dir = create_sweep(config, {"lr": [1e-3, 3e-3], "patience": [0, 1]}, tmp_path)
    control = TrainControl()

    def stop_after_epoch_1(event: object) -> None:
        if isinstance(event, EpochEvent) and event.epoch == 1:
            control.request_stop()

    stopped = run_sweep(
        sweep_dir, dataset=dataset, device=CPU, control=control, callbacks=(stop_after_epoch_1,)
    )
    assert stopped["state"] == "stopped" and stopped["results"] == []
    assert [run["state"] for run in read_sweep(sweep_dir)["runs"]] == ["stopped", "pending"]

    epochs, results = [], []

    def record(event: object) -> None:
        if isinstance(event, EpochEvent):
            epochs.append(event.epoch)

    ended = run_sweep(
        sweep_dir, dataset=dataset, device=CPU, callbacks=(record,), on_result=results.append
    )
    assert ended["state"] == "finished"
    assert epochs == [2, 1, 2]  # the first run went on from its last.pt, the second ran whole
    assert [(r["lr"], r["patience"]) for r in results] == [
        (1e-3, 0),
        (1e-3, 1),
        (3e-3, 0),
        (3e-3, 1),
    ]
    # A finished sweep trains nothing more and reports what it found.
    epochs.clear()
    again = []
    run_sweep(sweep_dir, dataset=dataset, device=CPU, callbacks=(record,), on_result=again.append)
    assert epochs == [] and again == results
    saved = json.loads((sweep_dir / "sweep.json").read_text())
    assert [run["state"] for run in saved["runs"]] == ["finished", "finished"]
