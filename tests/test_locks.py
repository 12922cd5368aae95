"""One writer per run: a lock file naming its holder, refused to a second writer at once, and
taken over when its holder was killed. Every test uses real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import cli, runs
from lab.device import pick_device
from lab.errors import LabError
from lab.io import SAVE_DELAY_ENV
from lab.jobs import JobManager
from lab.locks import LOCK, RunLock, holder
from tests.conftest import tiny_config
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
HOLD = """
import sys, time
from lab.locks import RunLock
with RunLock(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(600)
"""


def hold_in_child(run_dir: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline() == "holding\n"
    return child


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_the_lock_names_its_holder_and_refuses_a_second_writer(tmp_path):
    child = hold_in_child(tmp_path)
    try:
        found = holder(tmp_path)
        assert (found.pid, found.host) == (child.pid, socket.gethostname())
        with pytest.raises(LabError) as caught, RunLock(tmp_path):
            pass
        message = str(caught.value)
        assert f"process {child.pid} on {socket.gethostname()}" in message
        assert len(message.splitlines()) == 1
    finally:
        kill(child)


def test_two_writers_in_one_process_are_refused_too(tmp_path):
    """The job manager trains runs in threads of one process: they exclude each other."""
    with RunLock(tmp_path), pytest.raises(LabError, match=f"process {os.getpid()}"):
        RunLock(tmp_path).__enter__()
    assert not (tmp_path / LOCK).exists() and holder(tmp_path) is None


def test_a_lock_left_by_a_killed_process_is_stale_and_taken_over(tmp_path):
    child = hold_in_child(tmp_path)
    kill(child)
    assert (tmp_path / LOCK).exists()  # left behind, still naming the dead process
    assert holder(tmp_path) is None
    with RunLock(tmp_path) as lock:
        assert lock.took_over.pid == child.pid
        assert holder(tmp_path).pid == os.getpid()
    assert not (tmp_path / LOCK).exists()


def test_a_run_being_trained_cannot_be_deleted(tmp_path):
    run = runs.create_run_dir(tmp_path, "busy")
    (run / runs.CONFIG).write_text("{}")
    child = hold_in_child(run)
    try:
        with pytest.raises(LabError, match=f"being trained by process {child.pid}"):
            runs.delete_run(run, tmp_path)
    finally:
        kill(child)
    runs.delete_run(run, tmp_path)  # a stale lock file is the lab's own: deleted with the run
    assert not run.exists()


# --- a lock file that is not a file ---------------------------------------------------------------

PLANT = {
    "a FIFO": lambda lock: os.mkfifo(lock),
    "a folder": lambda lock: lock.mkdir(),
    "a link": lambda lock: lock.symlink_to(lock.parent / runs.CONFIG),
}
# Resume and Delete in a child, so that a lock opened blocking fails the test instead of hanging.
CALL = """
import sys
from pathlib import Path
from lab import cli, runs
from lab.errors import LabError
runs_dir = Path(sys.argv[2])
if sys.argv[1] == "resume":
    sys.exit(cli.main(["train", "--resume", "--name", "odd", "--runs-dir", str(runs_dir)]))
try:
    runs.delete_run(runs_dir / "odd", runs_dir)
except LabError as error:
    sys.exit(f"cifar-lab delete: error: {error}")
"""
GUARD_S = 60


@pytest.fixture(params=list(PLANT))
def odd_lock(request, tiny_folder, tmp_path):
    """A run folder whose run.lock is not a regular file: what it is, and the run folder."""
    run = runs.create_run_dir(tmp_path / "runs", "odd")
    runs.write_config(run, tiny_config(tiny_folder, epochs=1))
    PLANT[request.param](run / LOCK)
    return request.param, run


@pytest.mark.slow
@pytest.mark.parametrize("call", ["resume", "delete"])
def test_resume_and_delete_refuse_a_lock_that_is_not_a_file_in_one_line(odd_lock, call):
    kind, run = odd_lock
    done = subprocess.run(
        [sys.executable, "-c", CALL, call, str(run.parent)],
        cwd=ROOT, capture_output=True, text=True, timeout=GUARD_S,
    )  # fmt: skip
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert f"{run / LOCK} is {kind}, not a regular file" in line
    assert "decoding images" not in done.stderr and run.is_dir()


def test_a_writer_refuses_it_too(odd_lock):
    kind, run = odd_lock
    with pytest.raises(LabError, match=f"is {kind}, not a regular file"), RunLock(run):
        pass
    with pytest.raises(LabError, match=f"is {kind}, not a regular file"):
        holder(run)


# --- through the command line and the job manager -------------------------------------------------


def cli_train(data: Path, runs_dir: Path, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lab.cli", "train", "--data", str(data)]
    command += ["--epochs", "50", "--batch-size", "16", "--width", "0.125", "--patience", "100"]
    command += ["--runs-dir", str(runs_dir), "--name", "shared", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", SAVE_DELAY_ENV: "0.3"}  # slow: stays busy
    with log.open("w") as stderr:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )


@pytest.mark.slow
def test_a_second_writer_is_refused_at_once_and_a_killed_ones_lock_taken_over(
    tiny_folder, tmp_path, capsys
):
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "shared"
    first = cli_train(tiny_folder, runs_dir, tmp_path / "first.log")
    wait_until(
        lambda: holder(run_dir) is not None and (run_dir / runs.LAST).exists(),
        timeout=120, what="the first run started", process=first, log=tmp_path / "first.log",
    )  # fmt: skip
    assert holder(run_dir).pid == first.pid

    second = subprocess.run(
        [sys.executable, "-m", "lab.cli", "train", "--resume", "--name", "shared",
         "--runs-dir", str(runs_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert second.returncode == 2
    (line,) = second.stderr.strip().splitlines()
    assert f"is being trained by process {first.pid} on {socket.gethostname()}" in line
    assert "decoding images" not in second.stderr  # refused before loading any data

    manager = JobManager(max_running=1, idle_pause_s=600, device=pick_device("cpu"))
    with pytest.raises(LabError, match=f"process {first.pid}"):
        manager.resume_run(run_dir)

    kill(first)
    assert holder(run_dir) is None
    argv = ["train", "--resume", "--name", "shared", "--runs-dir", str(runs_dir)]
    assert cli.main([*argv, "--checkpoint-every-s", "60"]) == 0
    assert "completed 50/50 epochs" in capsys.readouterr().out
    assert not (run_dir / LOCK).exists()
