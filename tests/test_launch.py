"""Preparing a run: every setting is checked against the data before a folder exists, the
resolved data source is stored, and an unfinished folder is read back for resuming."""

from __future__ import annotations

import json
import os

import pytest

from lab import runs
from lab.errors import CheckpointError, ConfigError, LabError
from lab.fit import fit
from lab.launch import prepare_resume, prepare_run, resolve_source, resume_differences
from tests.conftest import tiny_config


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"batch_size": 4096}, "batch_size"),
        ({"subset": 5}, "subset"),
        ({"subset": 10_000}, "subset"),
    ],
)
def test_a_refused_run_leaves_nothing_on_disk(tiny_folder, tmp_path, settings, setting):
    with pytest.raises(ConfigError) as error:
        prepare_run(tiny_config(tiny_folder).with_settings(settings), tmp_path / "runs")
    assert error.value.setting == setting
    assert not (tmp_path / "runs").exists()


def test_a_prepared_run_stores_its_data_source_resolved(tiny_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_folder.parent)
    relative = os.path.relpath(tiny_folder)
    prepared = prepare_run(tiny_config(relative), tmp_path / "runs", name="here")
    assert prepared.config.data.source == str(tiny_folder.resolve()) == resolve_source(relative)
    assert prepared.run_dir == tmp_path / "runs" / "here" and prepared.run_dir.is_dir()
    assert resolve_source("CIFAR10") == "cifar10"


def test_a_run_with_a_config_but_no_checkpoint_starts_again_and_says_so(tiny_folder, tmp_path):
    prepared = prepare_run(tiny_config(tiny_folder, epochs=1), tmp_path, name="early")
    runs.write_config(prepared.run_dir, prepared.config)  # as fit does first: then a kill
    again = prepare_resume(prepared.run_dir)
    assert not again.resume and again.config == prepared.config
    assert "starts again from epoch 1 with its saved config" in again.notice
    result = fit(again)
    assert [row["epoch"] for row in result.history] == [1]


@pytest.mark.parametrize("left", ["no folder", "an empty folder", "a torn config write"])
def test_with_nothing_to_resume_the_run_starts_afresh_with_the_config_given(
    tiny_folder, tmp_path, left
):
    run_dir = tmp_path / "runs" / "early"
    if left != "no folder":
        run_dir.mkdir(parents=True)
    if left == "a torn config write":
        (run_dir / ".config.json.k2j4x9.tmp").write_text('{"data"')
    config = tiny_config(tiny_folder, epochs=1)
    with pytest.raises(LabError, match=f"nothing to resume: {run_dir} holds no last.pt"):
        prepare_resume(run_dir)  # the app resumes listed runs only: nothing to start them with
    prepared = prepare_resume(run_dir, start=config)
    assert prepared.run_dir == run_dir and not prepared.resume
    source = resolve_source(config.data.source)
    assert prepared.config == config.with_overrides(data={"source": source})
    assert prepared.notice == (
        f"nothing to resume in {run_dir}: run early starts afresh with the settings given"
    )
    assert list(run_dir.iterdir()) == []


def test_a_folder_with_a_runs_files_is_never_started_afresh(tiny_folder, tmp_path):
    run_dir = tmp_path / "early"
    run_dir.mkdir()
    (run_dir / runs.BEST).write_bytes(b"the best weights")
    with pytest.raises(LabError, match=f"nothing to resume: {run_dir} holds no last.pt"):
        prepare_resume(run_dir, start=tiny_config(tiny_folder, epochs=1))
    assert (run_dir / runs.BEST).read_bytes() == b"the best weights"


def test_an_unusable_last_checkpoint_is_refused_unless_a_restart_is_asked_for(
    tiny_folder, tmp_path
):
    prepared = prepare_run(tiny_config(tiny_folder, epochs=1), tmp_path, name="torn")
    runs.write_config(prepared.run_dir, prepared.config)
    (prepared.run_dir / runs.LAST).write_bytes(b"half a checkpoint")
    with pytest.raises(CheckpointError, match=f"{prepared.run_dir / runs.LAST}: it is truncated"):
        prepare_resume(prepared.run_dir)
    again = prepare_resume(prepared.run_dir, restart=True)
    assert not again.resume and again.config == prepared.config
    assert again.notice == "run torn starts over from epoch 1 with its saved config, as asked"


def test_a_restart_continues_with_the_config_json_not_the_command_line(tiny_run, tmp_path):
    again = prepare_resume(tiny_run, restart=True, start=tiny_config(tmp_path, epochs=9))
    assert not again.resume and again.config.train.epochs == 2


OWN = tiny_config("/data/tiny", epochs=2)


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({}, []),
        ({"epochs": 2, "batch_size": 16, "preset": "cpu-fast", "data": "/data/tiny"}, []),
        ({"data": "/data/../data/tiny/"}, []),
        ({"epochs": 5}, ["--epochs 5 (its own 2)"]),
        ({"data": "/data/other"}, ["--data /data/other (its own /data/tiny)"]),
        ({"preset": "cpu-5min"}, ["--preset cpu-5min (its own cpu-fast)"]),
        (
            {"lr": 0.5, "batch_size": 16, "data": "/data/other"},
            ["--data /data/other (its own /data/tiny)", "--lr 0.5 (its own 0.003)"],
        ),
    ],
)
def test_a_resume_refuses_what_differs_from_the_runs_own(given, refused):
    assert resume_differences(OWN, given) == refused


def test_prepare_resume_refuses_it(tiny_run):
    with pytest.raises(LabError, match=r"--epochs 9 \(its own 2\) differ: leave them out"):
        prepare_resume(tiny_run, given={"epochs": 9})


def test_a_finished_run_is_read_back_with_how_it_ended(tiny_run, tmp_path):
    again = prepare_resume(tiny_run)
    assert again.resume and again.ended is not None and again.ended.complete
    assert again.config.to_dict() == json.loads((tiny_run / runs.CONFIG).read_text())
