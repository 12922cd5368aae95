"""Nothing is lost: runs killed with SIGKILL, a full disk and a diverging run all leave loadable
checkpoints, and a resumed run carries on to the end with a continuous history."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from lab import cli, runs
from lab.checkpoint import load_model, read_checkpoint
from lab.config import ModelConfig, RunConfig
from lab.errors import LabError
from lab.fit import fit
from lab.io import SAVE_DELAY_ENV, atomic_save
from lab.launch import prepare_resume, prepare_run
from lab.models import build_model
from lab.outcome import Outcome
from lab.train import BatchEvent, EpochEvent, TrainControl, train_one_epoch
from tests.conftest import tiny_config
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


def history_epochs(run_dir: Path) -> list[int]:
    """The epochs history.csv lists; none when a kill landed before its first write (last.pt
    holds the history, and a resume writes the file again)."""
    path = run_dir / runs.HISTORY
    return pd.read_csv(path)["epoch"].tolist() if path.exists() else []


def temp_files(run_dir: Path) -> set[str]:
    """Checkpoint writes in progress (or cut short): ``.best.pt.*.tmp``, ``.last.pt.*.tmp``."""
    return {p.name for p in run_dir.glob(".*.pt.*.tmp")}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- SIGKILL at random moments ------------------------------------------------------------------

KILL_EPOCHS = 10


class CliRun:
    """``cifar-lab train`` in a subprocess of its own, as a user starts it."""

    def __init__(self, data: Path, runs_dir: Path, log: Path, *, resume: bool) -> None:
        command = [sys.executable, "-m", "lab.cli", "train", "--data", str(data)]
        command += ["--preset", "cpu-fast", "--subset", "60", "--epochs", str(KILL_EPOCHS)]
        command += ["--batch-size", "16", "--width", "0.125", "--precision", "fp32"]
        command += ["--patience", "100", "--runs-dir", str(runs_dir), "--name", "killed"]
        command += ["--resume"] if resume else []
        # Every checkpoint write lingers 0.25 s before its rename, so kills often land inside.
        env = {**os.environ, "OMP_NUM_THREADS": "1", SAVE_DELAY_ENV: "0.25"}
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )

    def wait_until(self, condition, timeout: float = 90.0) -> None:
        wait_until(
            condition, timeout=timeout, interval=0.01, what="the run got there",
            process=self.process, log=self.log,
        )  # fmt: skip

    def training(self) -> bool:
        return "| monitor" in self.log.read_text()

    def kill(self) -> None:
        assert self.process.poll() is None, "the run ended before the kill"
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL


def check_intact(run_dir: Path, note: str) -> int:
    """best.pt and last.pt load, and their histories are continuous; returns last.pt's epoch."""
    load_model(run_dir / runs.BEST)
    last = read_checkpoint(run_dir / runs.LAST)
    load_model(run_dir / runs.LAST)
    assert [row["epoch"] for row in last["history"]] == list(range(1, last["epoch"] + 1)), note
    on_disk = history_epochs(run_dir)
    assert on_disk == list(range(1, len(on_disk) + 1)), note
    return last["epoch"]


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_resume_finishes(tiny_folder, tmp_path):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "killed"
    done = []  # what happened, for the failure message

    # 1. A fresh run, killed at a random moment after its first checkpoint.
    run = CliRun(tiny_folder, runs_dir, tmp_path / "1.log", resume=False)
    run.wait_until(lambda: (run_dir / runs.LAST).exists())
    time.sleep(rng.uniform(0.0, 1.0))
    run.kill()
    done.append(("random", check_intact(run_dir, f"seed {seed}: {done}")))

    # 2. Resumed, and killed inside a checkpoint write: after the temp file appears, before
    # os.replace. The temp file left behind proves where the kill landed.
    before = temp_files(run_dir)
    run = CliRun(tiny_folder, runs_dir, tmp_path / "2.log", resume=True)
    run.wait_until(lambda: temp_files(run_dir) - before)
    time.sleep(rng.uniform(0.0, 0.2))
    run.kill()
    assert temp_files(run_dir) - before, "the kill missed the write"
    done.append(("in write", check_intact(run_dir, f"seed {seed}: {done}")))

    # 3. Resumed, and killed at a random moment of its training.
    run = CliRun(tiny_folder, runs_dir, tmp_path / "3.log", resume=True)
    run.wait_until(run.training)
    time.sleep(rng.uniform(0.0, 1.0))
    run.kill()
    done.append(("random", check_intact(run_dir, f"seed {seed}: {done}")))

    # 4. Resumed to the end.
    run = CliRun(tiny_folder, runs_dir, tmp_path / "4.log", resume=True)
    assert run.process.wait(timeout=180) == 0, run.log.read_text()[-2000:]
    note = f"seed {seed}: {done}"
    assert check_intact(run_dir, note) == KILL_EPOCHS
    assert history_epochs(run_dir) == list(range(1, KILL_EPOCHS + 1)), note
    last = read_checkpoint(run_dir / runs.LAST)
    assert last["outcome"] == "finished"
    assert last["reason"] == f"completed {KILL_EPOCHS}/{KILL_EPOCHS} epochs"
    assert runs.read_metrics(run_dir)["epochs_run"] == KILL_EPOCHS


def test_resume_rewrites_what_a_kill_after_the_last_checkpoint_left_out(tiny_folder, tmp_path):
    """A kill between the final last.pt and history.csv/metrics.json: resume completes them."""
    config = tiny_config(tiny_folder, epochs=3)
    done = fit(prepare_run(config, tmp_path / "runs", name="late-kill"))
    run_dir = done.run_dir
    runs.write_history(run_dir, done.history[:2])  # as it was before the last epoch
    (run_dir / runs.METRICS).unlink()
    again = fit(prepare_resume(run_dir))
    assert history_epochs(run_dir) == [1, 2, 3]
    assert again.reason == done.reason == "completed 3/3 epochs"
    metrics = runs.read_metrics(run_dir)
    assert metrics["epochs_run"] == 3 and metrics["test_acc"] == done.metrics["test_acc"]


# --- a full disk ----------------------------------------------------------------------------------


def fill_disk_at_epoch(monkeypatch, epoch: int) -> None:
    """From the first checkpoint of ``epoch`` on, torch.save writes part of the file and then
    fails as a full disk does."""
    real_save = torch.save

    def save(obj, handle, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch", 0) >= epoch:
            handle.write(b"PK\x03\x04" + bytes(4096))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def test_full_disk_stops_the_run_and_keeps_the_previous_checkpoint(
    tiny_folder, tmp_path, monkeypatch
):
    config = tiny_config(tiny_folder, epochs=4)
    prepared = prepare_run(config, tmp_path / "runs", name="full")
    run_dir = prepared.run_dir
    fill_disk_at_epoch(monkeypatch, 3)
    with pytest.raises(LabError, match="No space left on device.*written before is kept"):
        fit(prepared)
    assert read_checkpoint(run_dir / runs.LAST)["epoch"] == 2
    assert load_model(run_dir / runs.BEST).payload["epoch"] <= 2
    assert history_epochs(run_dir) == [1, 2]
    assert temp_files(run_dir) == set()  # the half-written file was removed

    monkeypatch.undo()  # space freed: the run resumes where it stopped
    resumed = fit(prepare_resume(run_dir))
    assert resumed.reason == "completed 4/4 epochs"
    assert history_epochs(run_dir) == [1, 2, 3, 4]


def test_full_disk_ends_the_cli_with_one_error_line(tiny_folder, tmp_path, monkeypatch, capsys):
    fill_disk_at_epoch(monkeypatch, 2)
    argv = ["train", "--data", str(tiny_folder), "--epochs", "3", "--batch-size", "16"]
    argv += ["--width", "0.125", "--runs-dir", str(tmp_path / "runs"), "--name", "cli-full"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert "Traceback" not in err
    assert read_checkpoint(tmp_path / "runs" / "cli-full" / runs.LAST)["epoch"] == 1


# --- divergence ---------------------------------------------------------------------------------


def test_learning_rate_10_diverges_in_the_first_epoch_and_records_why(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=5, lr=10.0, schedule="constant")
    events = []
    result = fit(prepare_run(config, tmp_path / "runs", name="lr10"), callbacks=(events.append,))
    run_dir = result.run_dir
    assert (
        result.outcome is Outcome.DIVERGED and runs.read_metrics(run_dir)["outcome"] == "diverged"
    )
    assert result.reason.startswith("diverged: loss became") and "in epoch 1" in result.reason
    batches = [e for e in events if isinstance(e, BatchEvent)]
    assert result.history == [] and len(batches) < 4  # stopped inside the first epoch
    assert not (run_dir / runs.BEST).exists() and not (run_dir / runs.LAST).exists()
    assert runs.read_metrics(run_dir)["reason"] == result.reason


def resume_at_learning_rate(last: Path, lr: float) -> None:
    """Rewrite a stopped run's last.pt, and its config.json to match, so that it resumes at a
    constant ``lr``, optimiser included: a run that blows up half-way, at a known epoch."""
    state = read_checkpoint(last)
    state["config"]["train"].update(lr=lr, schedule="constant")
    state["scheduler"] = None
    for group in state["optimizer"]["param_groups"]:
        group["lr"] = lr
    atomic_save(state, last)
    runs.write_config(last.parent, RunConfig.from_dict(state["config"]))


def test_divergence_half_way_stops_at_once_and_keeps_best(tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=5)
    prepared = prepare_run(config, tmp_path / "runs", name="half-way")
    run_dir = prepared.run_dir
    control = TrainControl()

    def stop_after_two(event):
        if isinstance(event, EpochEvent) and event.epoch == 2:
            control.request_stop()

    fit(prepared, control=control, callbacks=(stop_after_two,))
    resume_at_learning_rate(run_dir / runs.LAST, 10.0)
    best, last = digest(run_dir / runs.BEST), digest(run_dir / runs.LAST)

    events = []
    result = fit(prepare_resume(run_dir), callbacks=(events.append,))
    assert result.outcome is Outcome.DIVERGED
    assert result.reason.startswith("diverged: loss became") and "in epoch 3" in result.reason
    assert f"best.pt (epoch {result.metrics['best_epoch']}) is kept" in result.reason
    assert not any(isinstance(e, EpochEvent) for e in events)  # epoch 3 never completed
    assert digest(run_dir / runs.BEST) == best and digest(run_dir / runs.LAST) == last
    assert load_model(run_dir / runs.BEST).payload["epoch"] <= 2
    assert history_epochs(run_dir) == [1, 2]


def test_learning_rate_10_makes_the_cli_exit_non_zero(tiny_folder, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_folder), "--lr", "10", "--epochs", "3"]
    argv += ["--batch-size", "16", "--width", "0.125", "--runs-dir", str(tmp_path / "runs")]
    assert cli.main([*argv, "--name", "lr10"]) == 1
    captured = capsys.readouterr()
    assert "diverged: loss became" in captured.out and "Traceback" not in captured.err
    assert runs.read_metrics(tmp_path / "runs" / "lr10")["reason"].startswith("diverged")


def test_a_nan_loss_stops_before_the_step_touches_the_weights():
    model = build_model(ModelConfig("alexnet_cifar", width=0.125), num_classes=3)
    with torch.no_grad():
        model.classifier[-1].weight.fill_(float("inf"))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = iter([(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))])
    stats = train_one_epoch(model, batches, optimizer, device=torch.device("cpu"))
    assert stats.diverged and not torch.isfinite(torch.tensor(stats.loss))
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name


@pytest.fixture
def small_disk(tmp_path):
    """A real 30 MB filesystem (tmpfs), where a write really runs out of space."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_a_really_full_disk_ends_the_cli_with_one_line_and_the_run_resumes(
    tiny_folder, tiny_run, small_disk, tmp_path
):
    """On a 30 MB disk left with room for two checkpoints and a half: epoch 1 writes best.pt
    and last.pt, epoch 2's first write finds no space."""
    size = (tiny_run / runs.LAST).stat().st_size
    filler = small_disk / "filler"
    with filler.open("wb") as handle:  # really allocated: tmpfs counts written pages
        handle.write(bytes(os.statvfs(small_disk).f_bavail * 4096 - int(2.5 * size)))
    runs_dir = small_disk / "runs"
    command = [str(Path(sys.executable).parent / "cifar-lab"), "train", "--data", str(tiny_folder)]
    command += ["--epochs", "3", "--batch-size", "16", "--width", "0.25", "--val-fraction"]
    command += ["0.25", "--lr", "0.003", "--runs-dir", str(runs_dir), "--name", "full"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    line = errors[0]
    assert line.startswith("cifar-lab train: error: ")  # on a line of its own
    assert f"could not write in {runs_dir / 'full'}" in line and "No space left" in line
    assert re.search(r"needs about [\d.]+ MB free, [\d.]+ MB are", line), line
    run_dir = runs_dir / "full"
    assert read_checkpoint(run_dir / runs.LAST)["epoch"] == 1  # the previous last.pt survives
    assert temp_files(run_dir) == set()

    filler.unlink()  # space freed: the run resumes where it stopped
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Epoch 2:" in resumed.stdout and "Epoch 1:" not in resumed.stdout
    assert history_epochs(run_dir) == [1, 2, 3]
