"""The training engine: epochs, evaluation, checkpoints, stop/pause, resume."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import torch

from lab import runs
from lab.checkpoint import FORMAT_VERSION, read_checkpoint
from lab.config import ModelConfig, TrainConfig
from lab.data import load_dataset, make_splits
from lab.distributed import DistContext
from lab.errors import ConfigError
from lab.models import build_model
from lab.outcome import Outcome
from lab.train import (
    BN_LR_SCALE,
    SGD_MOMENTUM,
    BatchEvent,
    EndEvent,
    EpochEvent,
    TrainControl,
    epoch_batches,
    epoch_image_size,
    fast_batches,
    fit,
    init_from_data,
    make_optimizer,
    make_scheduler,
    usable_batch_size,
)
from tests.conftest import tiny_config


def run_fit(tmp_path, config, name="run", callbacks=(), **kwargs):
    splits = make_splits(load_dataset(config.data.source), config.data)
    run_dir = runs.create_run_dir(tmp_path / "runs", name)
    events = []
    result = fit(config, run_dir, splits=splits, callbacks=(*callbacks, events.append), **kwargs)
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
    assert result.outcome is Outcome.STOPPED
    assert len(result.history) == 1
    assert sum(isinstance(e, BatchEvent) and e.epoch == 2 for e in events) == 2
    assert read_checkpoint(run_dir / "last.pt")["outcome"] is None
    assert runs.read_metrics(run_dir)["outcome"] == "stopped"


def test_pause_blocks_training_until_resumed(tiny_folder, tmp_path):
    control = TrainControl()
    batches_while_paused = []
    events = []

    def resume_later():
        # Half a second is dozens of tiny batches: had the pause not held, more would be here.
        batches_while_paused.append(sum(isinstance(e, BatchEvent) for e in events))
        control.resume()

    def pause_once(event):
        if isinstance(event, BatchEvent) and event.batch == 1 and not batches_while_paused:
            control.pause()
            threading.Timer(0.5, resume_later).start()

    config = tiny_config(tiny_folder, epochs=1)
    result, _ = run_fit(tmp_path, config, control=control, callbacks=(events.append, pause_once))
    assert batches_while_paused == [1]
    assert result.outcome is Outcome.FINISHED
    assert sum(isinstance(e, BatchEvent) for e in events) == 4


def test_resumed_run_equals_an_uninterrupted_one(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3)
    straight, _ = run_fit(tmp_path, config, name="straight")

    control = TrainControl()

    def stop_after_first_epoch(event):
        if isinstance(event, EpochEvent) and event.epoch == 1:
            control.request_stop()

    splits = make_splits(load_dataset(config.data.source), config.data)
    run_dir = runs.create_run_dir(tmp_path / "runs", "interrupted")
    first = fit(
        config, run_dir, splits=splits, control=control, callbacks=(stop_after_first_epoch,)
    )
    assert len(first.history) == 1
    resumed = fit(config, run_dir, splits=splits, resume=True)
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
    fit(config, done.run_dir, resume=True)
    assert not stale.exists()
    assert {p.name for p in done.run_dir.iterdir()} >= {"best.pt", "last.pt", "history.csv"}


def test_resuming_a_finished_run_trains_nothing(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=2)
    done, _ = run_fit(tmp_path, config)
    events = []
    again = fit(config, done.run_dir, resume=True, callbacks=(events.append,))
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


def test_fast_batches_cover_the_epoch_once_in_a_seeded_order(tiny_folder):
    dataset = load_dataset(tiny_folder)
    config = tiny_config(tiny_folder)

    def labels(seed):
        batches = fast_batches(
            dataset.train,
            config.augment,
            dataset.mean,
            dataset.std,
            batch_size=10,
            device=torch.device("cpu"),
            generator=torch.Generator().manual_seed(seed),
        )
        return torch.cat([y for _, y in batches])

    first = labels(0)
    assert sorted(first.tolist()) == sorted(dataset.train.labels.tolist())
    assert torch.equal(first, labels(0)) and not torch.equal(first, labels(1))


def test_a_final_batch_of_one_is_dropped():
    assert usable_batch_size(65, 64) == 64
    assert usable_batch_size(66, 64) == 66


def test_onecycle_warms_up_then_decays_to_zero():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    scheduler = make_scheduler(optimizer, TrainConfig(epochs=2, schedule="onecycle"), 4)
    rates = []
    for _ in range(8):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:2] == [0.5, 1.0]  # linear warm-up over 25% of the 8 steps
    assert rates[2:] == pytest.approx([6 / 6, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"patience": -1}, "patience"),
        ({"monitor": "accuracy"}, "val_acc"),
        ({"schedule": "cosine"}, "onecycle"),
        ({"optimizer": "lamb"}, "adam, sgd"),
        ({"pipeline": "gpu"}, "reference"),
        ({"label_smoothing": 0.9}, "label_smoothing"),
    ],
)
def test_train_config_rejects_bad_values_naming_valid_ones(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_sgd_is_nesterov_with_batchnorm_shifts_at_a_higher_rate():
    model = build_model(ModelConfig("alexnet_whitened", width=0.25))
    config = TrainConfig(optimizer="sgd", lr=0.5, weight_decay=1e-3)
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.SGD)
    weights, shifts = optimizer.param_groups
    assert weights["nesterov"] and weights["momentum"] == SGD_MOMENTUM
    assert weights["lr"] == 0.5 and shifts["lr"] == 0.5 * BN_LR_SCALE
    # Each step shrinks the shifts as much as the other weights: lr * weight_decay is equal.
    assert shifts["lr"] * shifts["weight_decay"] == pytest.approx(0.5 * 1e-3)
    handed = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(model.features[0].weight) not in handed  # the frozen stem


def test_whitened_run_learns_and_keeps_its_stem_fixed(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3, optimizer="sgd", lr=0.2, batch_size=16)
    config = config.with_settings({"model": "alexnet_whitened", "width": 0.25})
    result, _ = run_fit(tmp_path, config)
    assert result.metrics["test_acc"] > 0.6  # three easy classes: chance is 0.33
    best = read_checkpoint(result.run_dir / "best.pt")["model"]
    splits = make_splits(load_dataset(config.data.source), config.data)
    fresh = build_model(config.model, num_classes=3)
    init_from_data(fresh, config, splits)
    assert torch.equal(best["features.0.weight"], fresh.features[0].weight)


@pytest.mark.parametrize(
    ("start", "epochs", "sides"),
    [
        (0, 3, [32, 32, 32]),  # off
        (16, 3, [16, 24, 32]),
        (24, 2, [24, 32]),
        (12, 5, [12, 17, 22, 27, 32]),
        (16, 1, [32]),  # a single epoch is the last one: full size
        (40, 3, [32, 32, 32]),  # a start above the full size changes nothing
    ],
)
def test_progressive_resizing_grows_evenly_to_the_full_size_in_the_last_epoch(start, epochs, sides):
    config = TrainConfig(epochs=epochs, progressive_from=start)
    assert [epoch_image_size(config, e, 32) for e in range(1, epochs + 1)] == sides


def test_progressive_epochs_train_on_smaller_images_of_the_same_draws(tiny_folder):
    config = tiny_config(tiny_folder, epochs=3, progressive_from=16, batch_size=8)
    full = config.with_overrides(train={"progressive_from": 0})
    splits = make_splits(load_dataset(config.data.source), config.data)
    cpu = torch.device("cpu")
    for epoch, side in ((1, 16), (2, 24), (3, 32)):
        small = list(epoch_batches(config, splits, epoch, cpu, DistContext()))
        large = list(epoch_batches(full, splits, epoch, cpu, DistContext()))
        assert {tuple(x.shape[-2:]) for x, _ in small} == {(side, side)}
        assert all(x.is_contiguous(memory_format=torch.channels_last) for x, _ in small)
        # The same images in the same order, with the same augmentation, only smaller.
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(small, large, strict=True))
        x, big = small[0][0], large[0][0]
        assert torch.allclose(x.mean(dim=(2, 3)), big.mean(dim=(2, 3)), atol=0.05)


def test_a_progressive_run_learns_and_scores_at_the_full_size(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3, progressive_from=16)
    result, _ = run_fit(tmp_path, config)
    assert result.outcome is Outcome.FINISHED
    assert result.metrics["test_acc"] > 0.6  # three easy classes: chance is 0.33
    assert read_checkpoint(result.run_dir / "best.pt")["config"]["train"]["progressive_from"] == 16


def test_progressive_resizing_below_what_the_network_takes_is_refused(tiny_folder):
    with pytest.raises(ConfigError, match="choose 0 \\(off\\) or 9 to 32 px") as error:
        tiny_config(tiny_folder).with_settings({"model": "alexnet_whitened", "progressive_from": 8})
    assert error.value.setting == "progressive_from"


def test_progressive_resizing_is_for_the_32px_networks_only(tiny_folder):
    config = tiny_config(tiny_folder).with_settings({"progressive_from": 16})
    with pytest.raises(ConfigError, match="progressive_from applies only to"):
        config.with_settings({"model": "alexnet", "progressive_from": 16})
    # Choosing the notebook's network turns it off, as it does the width.
    assert config.with_settings({"model": "alexnet"}).train.progressive_from == 0
