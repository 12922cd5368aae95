"""A whole run: its files, the best checkpoint, stop and pause, resume, the stem computed from
the training images."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import torch

from lab import runs
from lab.checkpoint import FORMAT_VERSION, read_checkpoint
from lab.data import load_dataset, make_splits
from lab.distributed import DistContext
from lab.errors import ConfigError
from lab.fit import decide, fit, init_from_data, new_state
from lab.launch import prepare_resume, prepare_run
from lab.models import build_model
from lab.outcome import Outcome
from lab.train import BatchEvent, EndEvent, EpochEvent, TrainControl
from tests.conftest import tiny_config


def run_fit(tmp_path, config, name="run", callbacks=(), **kwargs):
    prepared = prepare_run(config, tmp_path / "runs", name=name)
    events = []
    result = fit(prepared, callbacks=(*callbacks, events.append), **kwargs)
    return result, events


def test_fit_writes_every_artifact_and_learns(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=4)
    result, events = run_fit(tmp_path, config)
    run_dir = result.run_dir
    assert {p.name for p in run_dir.iterdir()} == {
        "best.pt",
        "last.pt",
        "evaluation.pt",
        "config.json",
        "history.csv",
        "metrics.json",
    }
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["val_acc"].notna().all() and history["test_acc"].isna().all()
    assert result.metrics["test_acc"] > 0.6  # three easy classes: chance is 0.33
    assert result.outcome is Outcome.FINISHED and result.reason == "completed 4/4 epochs"
    assert runs.read_metrics(run_dir)["outcome"] == "finished"
    checkpoint = read_checkpoint(run_dir / "last.pt")
    assert checkpoint["format_version"] == FORMAT_VERSION
    assert checkpoint["classes"] == ["circle", "square", "stripes"]
    assert len(checkpoint["mean"]) == 3 and checkpoint["config"]["preset"] == "cpu-fast"
    assert checkpoint["outcome"] == "finished"
    kinds = [type(e) for e in events]
    assert kinds.count(EpochEvent) == 4 and kinds[-1] is EndEvent
    assert kinds.count(BatchEvent) == 4 * 4  # 54 training images / 16 = 4 batches


def test_best_checkpoint_is_the_best_monitored_epoch(tiny_folder, tmp_path):
    result, _ = run_fit(tmp_path, tiny_config(tiny_folder, epochs=3))
    history = pd.read_csv(result.run_dir / "history.csv")
    best = read_checkpoint(result.run_dir / "best.pt")
    assert best["epoch"] == int(history["val_acc"].idxmax()) + 1
    assert result.metrics["best_epoch"] == best["epoch"]


def test_monitoring_test_records_test_metrics_every_epoch(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=2, monitor="test_acc").with_overrides(
        data={"val_fraction": 0.0}
    )
    result, _ = run_fit(tmp_path, config)
    history = pd.read_csv(result.run_dir / "history.csv")
    assert history["test_acc"].notna().all() and history["val_acc"].isna().all()
    assert result.metrics["test_acc"] == history["test_acc"].max()


@pytest.mark.slow
def test_stop_request_is_honoured_between_batches(tiny_folder, tmp_path):
    control = TrainControl()

    def stop_on_second_batch(event):
        if isinstance(event, BatchEvent) and event.epoch == 2 and event.batch == 2:
            control.request_stop()

    config = tiny_config(tiny_folder, epochs=5)
    result, events = run_fit(
        tmp_path, config, "stopped", control=control, callbacks=(stop_on_second_batch,)
    )
    run_dir = result.run_dir
    assert result.outcome is Outcome.STOPPED and result.reason == Outcome.STOPPED.label
    assert len(result.history) == 1
    assert sum(isinstance(e, BatchEvent) and e.epoch == 2 for e in events) == 2
    assert read_checkpoint(run_dir / "last.pt")["outcome"] is None
    assert runs.read_metrics(run_dir)["outcome"] == "stopped"


def test_pause_blocks_training_until_resumed(tiny_folder, tmp_path):
    control = TrainControl()
    batches_while_paused = []
    events = []

    def resume_once_parked():
        # The training thread says when it holds still between two batches: only then is
        # the count of batches done the one a working pause keeps.
        if control.parked.wait(timeout=60):
            batches_while_paused.append(sum(isinstance(e, BatchEvent) for e in events))
        control.resume()

    def pause_once(event):
        if isinstance(event, BatchEvent) and event.batch == 1 and not batches_while_paused:
            control.pause()
            threading.Thread(target=resume_once_parked).start()

    config = tiny_config(tiny_folder, epochs=1)
    result, _ = run_fit(tmp_path, config, control=control, callbacks=(events.append, pause_once))
    assert batches_while_paused == [1]
    assert result.outcome is Outcome.FINISHED
    assert sum(isinstance(e, BatchEvent) for e in events) == 4


@pytest.mark.slow
def test_resumed_run_equals_an_uninterrupted_one(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3)
    straight, _ = run_fit(tmp_path, config, name="straight")

    control = TrainControl()

    def stop_after_first_epoch(event):
        if isinstance(event, EpochEvent) and event.epoch == 1:
            control.request_stop()

    prepared = prepare_run(config, tmp_path / "runs", name="interrupted")
    first = fit(prepared, control=control, callbacks=(stop_after_first_epoch,))
    assert len(first.history) == 1
    run_dir = first.run_dir
    resumed = fit(prepare_resume(run_dir))
    a = pd.DataFrame(straight.history).drop(columns=["seconds", "images_per_s"])
    b = pd.DataFrame(resumed.history).drop(columns=["seconds", "images_per_s"])
    pd.testing.assert_frame_equal(a, b, atol=1e-4, rtol=1e-4)
    for key, tensor in read_checkpoint(straight.run_dir / "last.pt")["model"].items():
        other = read_checkpoint(run_dir / "last.pt")["model"][key]
        assert torch.allclose(tensor.float(), other.float(), atol=1e-4), key


def test_resume_removes_temp_files_of_an_interrupted_write(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=1)
    done, _ = run_fit(tmp_path, config)
    stale = done.run_dir / ".last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    fit(prepare_resume(done.run_dir))
    assert not stale.exists()
    assert {p.name for p in done.run_dir.iterdir()} >= {"best.pt", "last.pt", "history.csv"}


def test_resuming_a_finished_run_trains_nothing(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=2)
    done, _ = run_fit(tmp_path, config)
    events = []
    again = fit(prepare_resume(done.run_dir), callbacks=(events.append,))
    assert again.history == done.history and events == []
    assert again.outcome is done.outcome and again.reason == done.reason


def test_reference_pipeline_trains_too(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=1, pipeline="reference")
    result, _ = run_fit(tmp_path, config)
    assert len(result.history) == 1 and result.history[0]["train_loss"] > 0


def test_batch_larger_than_the_training_split_is_refused(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=1, batch_size=1000)
    with pytest.raises(ConfigError, match="larger than the training split"):
        run_fit(tmp_path, config)


def test_whitened_run_learns_and_keeps_its_stem_fixed(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3, optimizer="sgd", lr=0.2, batch_size=16)
    config = config.with_settings({"model": "alexnet_whitened", "width": 0.25})
    result, _ = run_fit(tmp_path, config)
    assert result.metrics["test_acc"] > 0.6  # three easy classes: chance is 0.33
    best = read_checkpoint(result.run_dir / "best.pt")["model"]
    splits = make_splits(load_dataset(config.data.source), config.data)
    fresh = build_model(config.model, num_classes=len(splits.classes))
    init_from_data(fresh, config, splits)
    assert torch.equal(best["features.0.weight"], fresh.features[0].weight)


def test_a_progressive_run_learns_and_scores_at_the_full_size(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3, progressive_from=16)
    result, _ = run_fit(tmp_path, config)
    assert result.outcome is Outcome.FINISHED
    assert result.metrics["test_acc"] > 0.6  # three easy classes: chance is 0.33
    assert read_checkpoint(result.run_dir / "best.pt")["config"]["train"]["progressive_from"] == 16


@pytest.mark.parametrize(
    ("values", "patience", "stops", "outcome"),
    [
        ([0.5, 0.6, 0.7], 1, False, Outcome.FINISHED),  # the schedule's end
        ([0.5, 0.6, 0.6, 0.6], 1, True, Outcome.EARLY_STOPPED),  # counter 2 exceeds patience 1
        ([0.5, 0.4, 0.6], 1, False, Outcome.FINISHED),  # one worse epoch, then a best
        ([0.5, float("nan")], 5, True, Outcome.DIVERGED),
        ([0.5, 0.4], 0, True, Outcome.EARLY_STOPPED),
    ],
)
def test_decide_reads_each_epoch_of_the_state_to_a_stop_or_the_end(
    tiny_folder, tmp_path, values, patience, stops, outcome
):
    """The last value ends the run: by a stop (the schedule has 10 epochs), or as the last
    epoch of the schedule; the epochs before it go on."""
    epochs = 10 if stops else len(values)
    config = tiny_config(tiny_folder, epochs=epochs, patience=patience)
    state = new_state(prepare_run(config, tmp_path), None, torch.device("cpu"), DistContext())
    decisions = []
    for epoch, value in enumerate(values, start=1):
        state.history.append({"epoch": epoch, "val_acc": value})
        decisions.append(decide(state))
    *going_on, (stop, ended, reason) = decisions
    assert going_on == [(False, None, "")] * (len(values) - 1)
    assert stop is stops and ended is outcome and reason
