"""torchrun + DistributedDataParallel on two CPU processes (Gloo)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lab.checkpoint import load_model, read_checkpoint
from lab.data import load_dataset, make_splits
from lab.evaluate import evaluate_model
from lab.fit import fit
from lab.launch import prepare_run
from lab.train import EpochEvent, TrainControl
from tests.conftest import tiny_config

TORCHRUN = Path(sys.executable).with_name("torchrun")


def torchrun(*argv, logs: Path, processes: int = 2) -> dict[int, str]:
    """Run ``cifar-lab`` under torchrun; returns each rank's own stderr, which torchrun writes
    to a file per rank (``--redirects 2``), so the ranks' lines never interleave."""
    command = [str(TORCHRUN), "--standalone", f"--nproc_per_node={processes}"]
    command += ["--log-dir", str(logs), "--redirects", "2", "-m", "lab.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*command, *map(str, argv)], capture_output=True, text=True, env=env, timeout=600
    )
    per_rank = {int(path.parent.name): path.read_text() for path in logs.rglob("stderr.log")}
    assert done.returncode == 0, (done.stderr[-2000:], per_rank)
    assert sorted(per_rank) == list(range(processes)), per_rank
    return per_rank


def stopped_epochs(per_rank: dict[int, str]) -> dict[int, int]:
    """Each rank's closing line, from its own log: 'rank R: <outcome> after epoch N'."""
    found = {}
    for rank, log in per_rank.items():
        lines = re.findall(rf"^rank {rank}: \S+ after epoch (\d+)$", log, flags=re.MULTILINE)
        assert len(lines) == 1, log[-2000:]
        found[rank] = int(lines[0])
    return found


@pytest.mark.slow
@pytest.mark.real_data
def test_two_processes_train_one_run_with_metrics_over_the_whole_split(real_data_path, tmp_path):
    runs_dir = tmp_path / "runs"
    logs = torchrun(
        "train", "--data", real_data_path, "--preset", "cpu-fast", "--subset", 1000,
        "--epochs", 1, "--precision", "fp32", "--runs-dir", runs_dir, "--name", "ddp",
        logs=tmp_path / "logs",
    )  # fmt: skip
    assert [p.name for p in runs_dir.iterdir()] == ["ddp"]
    assert stopped_epochs(logs) == {0: 1, 1: 1}
    history = pd.read_csv(runs_dir / "ddp" / "history.csv")
    loaded = load_model(runs_dir / "ddp" / "best.pt")  # strict: no "module." prefixes
    splits = make_splits(load_dataset(real_data_path), loaded.config.data)
    single = evaluate_model(loaded, splits.val, precision="fp32")
    assert history.loc[0, "val_acc"] == pytest.approx(single.accuracy, abs=1e-9)
    assert history.loc[0, "val_loss"] == pytest.approx(single.loss, rel=1e-4)


@pytest.mark.slow
def test_every_rank_stops_at_the_same_epoch(tiny_folder, tmp_path):
    logs = torchrun(
        "train", "--data", tiny_folder, "--epochs", 6, "--patience", 0, "--width", 0.25,
        "--batch-size", 16, "--precision", "fp32", "--runs-dir", tmp_path, "--name", "stop",
        logs=tmp_path / "logs",
    )  # fmt: skip
    epochs = stopped_epochs(logs)
    history = pd.read_csv(tmp_path / "stop" / "history.csv")
    assert epochs[0] == epochs[1] == len(history)
    assert read_checkpoint(tmp_path / "stop" / "last.pt")["epoch"] == len(history)


@pytest.mark.slow
def test_a_single_process_run_resumes_on_two_processes(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=3, precision="fp32")
    control = TrainControl()

    def stop_after_first(event):
        if isinstance(event, EpochEvent):
            control.request_stop()

    run_dir = fit(
        prepare_run(config, tmp_path, name="moving"), control=control, callbacks=(stop_after_first,)
    ).run_dir
    assert len(pd.read_csv(run_dir / "history.csv")) == 1
    torchrun(
        "train", "--resume", "--name", "moving", "--runs-dir", tmp_path, logs=tmp_path / "logs"
    )
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    load_model(run_dir / "last.pt")
