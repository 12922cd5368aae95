"""Checkpoints inside an epoch: a run killed or stopped part-way through an epoch resumes on
exactly the batches an uninterrupted run would have seen, and ends with the same history."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lab import runs
from lab.checkpoint import read_checkpoint
from lab.fit import fit
from lab.io import SAVE_DELAY_ENV
from lab.launch import prepare_resume, prepare_run
from lab.train import BatchEvent, TrainControl
from tests.conftest import tiny_config
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]


class Crash(Exception):
    """Raised from a callback between two batches: the run ends there, as if killed."""


def figures(history: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(history)[FIGURES]


def config_for(tiny_folder, pipeline: str, every_s: float):
    # batch 8: 7 batches an epoch, so there is an inside of an epoch to stop in
    return tiny_config(
        tiny_folder, epochs=3, batch_size=8, pipeline=pipeline, checkpoint_every_s=every_s
    )


@pytest.fixture(scope="module")
def straight(tiny_folder, tmp_path_factory):
    """Uninterrupted runs, one per pipeline."""
    done = {}
    for pipeline in ("fast", "reference"):
        runs_dir = tmp_path_factory.mktemp("straight")
        done[pipeline] = fit(
            prepare_run(config_for(tiny_folder, pipeline, 60.0), runs_dir, name=pipeline)
        )
    return done


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["fast", "reference"])
@pytest.mark.parametrize("how", ["crash", "stop"])
def test_a_run_cut_inside_an_epoch_resumes_there_and_ends_the_same(
    tiny_folder, straight, tmp_path, pipeline, how
):
    config = config_for(tiny_folder, pipeline, 0.0)  # 0: last.pt after every batch
    prepared = prepare_run(config, tmp_path / "runs", name="cut")
    run_dir = prepared.run_dir
    control = TrainControl()

    def cut(event):
        if isinstance(event, BatchEvent) and (event.epoch, event.batch) == (2, 4):
            if how == "crash":
                raise Crash  # batch 4 is trained, its checkpoint not yet written
            control.request_stop()  # honoured before batch 5; last.pt keeps batches 1-4

    with pytest.raises(Crash) if how == "crash" else _nothing():
        fit(prepared, control=control, callbacks=(cut,))
    position = read_checkpoint(run_dir / runs.LAST)["position"]
    assert (position["epoch"], position["batch"]) == (2, 3 if how == "crash" else 4)

    events = []
    resumed = fit(prepare_resume(run_dir), callbacks=(events.append,))
    batches = [(e.epoch, e.batch) for e in events if isinstance(e, BatchEvent)]
    assert batches[0] == (2, position["batch"] + 1) and batches.count((2, 1)) == 0
    pd.testing.assert_frame_equal(
        figures(resumed.history), figures(straight[pipeline].history), check_exact=True
    )
    assert resumed.metrics["test_acc"] == straight[pipeline].metrics["test_acc"]
    assert runs.read_history(run_dir)["epoch"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("pipeline", ["fast", "reference"])
def test_a_run_stopped_after_the_last_batch_of_an_epoch_resumes_at_its_end(
    tiny_folder, straight, tmp_path, pipeline
):
    """A stop asked for after an epoch's last batch is honoured before the epoch is scored:
    last.pt then holds every batch of the epoch, and resuming scores it and goes on."""
    config = config_for(tiny_folder, pipeline, 60.0)
    prepared = prepare_run(config, tmp_path / "runs", name="cut-at-the-end")
    run_dir = prepared.run_dir
    control = TrainControl()

    def stop_at_the_last_batch(event):
        if isinstance(event, BatchEvent) and (event.epoch, event.batch) == (2, event.batches):
            control.request_stop()

    first = fit(prepared, control=control, callbacks=(stop_at_the_last_batch,))
    assert len(first.history) == 1
    position = read_checkpoint(run_dir / runs.LAST)["position"]
    assert (position["epoch"], position["batch"]) == (2, 7)

    events = []
    resumed = fit(prepare_resume(run_dir), callbacks=(events.append,))
    batches = [(e.epoch, e.batch) for e in events if isinstance(e, BatchEvent)]
    assert batches[0] == (3, 1)
    pd.testing.assert_frame_equal(
        figures(resumed.history), figures(straight[pipeline].history), check_exact=True
    )


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_interval_is_respected_within_an_epoch(tiny_folder, tmp_path):
    """An hour's interval: inside every epoch, last.pt is still the previous epoch's end."""
    config = config_for(tiny_folder, "fast", 3600.0)
    prepared = prepare_run(config, tmp_path / "runs", name="hourly")
    run_dir = prepared.run_dir
    seen = []

    def look(event):
        if isinstance(event, BatchEvent) and event.epoch == 2:
            last = read_checkpoint(run_dir / runs.LAST)
            seen.append((last["epoch"], last["position"]))

    fit(prepared, callbacks=(look,))
    assert seen == [(1, None)] * 7


# --- a real SIGKILL in the middle of an epoch ---------------------------------------------------


def cli_train(data: Path, runs_dir: Path, name: str, log: Path, *extra: str, delay: str = ""):
    command = [sys.executable, "-m", "lab.cli", "train", "--data", str(data), "--preset"]
    command += ["cpu-fast", "--epochs", "3", "--batch-size", "8", "--width", "0.125"]
    command += ["--precision", "fp32", "--patience", "10", "--runs-dir", str(runs_dir)]
    command += ["--name", name, "--checkpoint-every-s", "0", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", SAVE_DELAY_ENV: delay}
    with log.open("w") as stderr:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr)


def printed_history(run_dir: Path) -> list[str]:
    """history.csv to the digits the epoch lines print (4 decimals)."""
    frame = runs.read_history(run_dir)[FIGURES]
    return [", ".join(f"{value:.4f}" for value in row) for row in frame.itertuples(index=False)]


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_history_of_one_never_killed(tiny_folder, tmp_path):
    runs_dir = tmp_path / "runs"
    never = cli_train(tiny_folder, runs_dir, "never", tmp_path / "never.log")
    assert never.wait(timeout=300) == 0, (tmp_path / "never.log").read_text()[-2000:]

    # Every write lingers 0.2 s before its rename, so the run is slow enough to catch.
    killed = cli_train(tiny_folder, runs_dir, "killed", tmp_path / "1.log", delay="0.2")
    last = runs_dir / "killed" / runs.LAST
    wait_until(
        lambda: last.exists() and (read_checkpoint(last)["position"] or {}).get("epoch") == 2,
        timeout=120, interval=0.01, what="a checkpoint inside epoch 2",
        process=killed, log=tmp_path / "1.log",
    )  # fmt: skip
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    position = read_checkpoint(last)["position"]
    assert position["epoch"] == 2 and 1 <= position["batch"] < 7  # killed inside epoch 2

    resumed = cli_train(tiny_folder, runs_dir, "killed", tmp_path / "2.log", "--resume")
    out = resumed.stdout.read().decode()
    assert resumed.wait(timeout=300) == 0, (tmp_path / "2.log").read_text()[-2000:]
    assert "Epoch 2:" in out and "Epoch 1:" not in out
    assert printed_history(runs_dir / "killed") == printed_history(runs_dir / "never")
    assert len(printed_history(runs_dir / "killed")) == 3
