"""Resume trusts nothing in last.pt: every field is checked like a config, and a damaged one is
refused with nothing overwritten (``--restart`` starts the run over from its config.json). A run
whose last.pt is missing starts again from epoch 1 with its saved config, and one that left
nothing at all starts afresh with the settings given; each says so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lab import cli, jobs, runs
from lab.checkpoint import FORMAT_VERSION, read_checkpoint, read_resume_state
from lab.device import pick_device
from lab.errors import CheckpointError, LabError
from lab.fit import fit
from lab.io import SAVE_DELAY_ENV, atomic_save
from lab.jobs import JobManager
from lab.launch import prepare_resume, prepare_run
from lab.train import EpochEvent, TrainControl
from tests.conftest import tiny_config
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def stopped_run(tiny_folder, tmp_path_factory):
    """A 3-epoch run stopped by its user after epoch 2: resumable."""
    config = tiny_config(tiny_folder, epochs=3)
    control = TrainControl()

    def stop_after_two(event):
        if isinstance(event, EpochEvent) and event.epoch == 2:
            control.request_stop()

    prepared = prepare_run(config, tmp_path_factory.mktemp("runs"), name="stopped")
    return fit(prepared, control=control, callbacks=(stop_after_two,)).run_dir


def set_field(payload: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        payload = payload[key] if not key.isdigit() else payload[int(key)]
    payload[int(last) if last.isdigit() else last] = value


DAMAGE = [
    ("epoch", "2", "epoch is '2' but its history holds 2 epochs"),
    ("epoch", 5, "epoch is 5 but its history holds 2 epochs"),
    ("early_stopping.best", "high", "early_stopping: best must be float or None, got 'high'"),
    ("early_stopping.epoch", 10**6, "early-stopping state (epoch 1000000"),
    ("early_stopping.counter", -1, "early-stopping state"),
    ("early_stopping.best_epoch", 7, "early-stopping state"),
    ("early_stopping.best", float("nan"), "early-stopping state"),
    ("early_stopping", [1, 2], "early_stopping is [1, 2], not a mapping"),
    ("early_stopping.patience", None, "early_stopping: patience must be int, got None"),
    ("history", "rows", "its history is 'rows', not a list of epochs"),
    ("history", [1, 2], "history row 1 is 1, not a mapping"),
    ("history.0.epoch", 3, "does not number its epochs 1, 2, 3"),
    ("history.1.val_acc", "x", "history row 2: val_acc must be float or None, got 'x'"),
    ("history.1.lr", True, "history row 2: lr must be float, got True"),
    ("history.0.extra", 1, "history row 1 has the wrong fields"),
    ("elapsed_s", "long", "elapsed_s is 'long', not a number of seconds"),
    ("elapsed_s", float("inf"), "elapsed_s is inf"),
    ("outcome", "won", "outcome 'won' is not one the lab writes"),
    ("position", {"epoch": 3}, "position has the wrong fields"),
    (
        "position",
        {
            "epoch": 3,
            "batch": 2,
            "loss_sum": 1.0,
            "correct": 9,
            "seen": 4,
            "seconds": 1.0,
            "lr": 1e-3,
        },
        "position: batch 2, seen 4 and correct 9 do not fit together",
    ),  # fmt: skip
    (
        "position",
        {
            "epoch": 9,
            "batch": 2,
            "loss_sum": 1.0,
            "correct": 3,
            "seen": 32,
            "seconds": 1.0,
            "lr": 1e-3,
        },
        "its position inside epoch 9 does not follow epoch 2",
    ),  # fmt: skip
    ("rng.torch", "seed", "a damaged or incompatible checkpoint"),
    ("model.classifier.4.bias", torch.full((3,), float("nan")), "non-finite weights"),
]


def damaged_copy(stopped_run, tmp_path, field: str, value):
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "victim"
    shutil.copytree(stopped_run, run_dir)
    payload = read_checkpoint(run_dir / runs.LAST)
    if field.startswith("model."):
        payload["model"][field.removeprefix("model.")] = value
    else:
        set_field(payload, field, value)
    atomic_save(payload, run_dir / runs.LAST)
    return run_dir


@pytest.mark.parametrize(("field", "value", "message"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_field_is_refused_by_resume_in_one_line(
    stopped_run, tmp_path, field, value, message
):
    run_dir = damaged_copy(stopped_run, tmp_path, field, value)
    with pytest.raises(CheckpointError) as caught:
        read_resume_state(run_dir / runs.LAST)
        fit(prepare_resume(run_dir))  # restoring checks the rest
    assert message in str(caught.value) and len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("field", "value"), [("epoch", "2"), ("early_stopping.epoch", 10**6), ("history", "rows")]
)
def test_the_cli_refuses_it_in_one_line_when_the_run_has_no_config_to_restart_from(
    stopped_run, tmp_path, field, value, capsys
):
    run_dir = damaged_copy(stopped_run, tmp_path, field, value)
    (run_dir / runs.CONFIG).unlink()
    argv = ["train", "--resume", "--name", "victim", "--runs-dir", str(run_dir.parent)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume from" in err and "Traceback" not in err


def files(run_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(run_dir.iterdir())}


# Found when last.pt is read (the first two), or when fit restores it (the last two).
REFUSED = [
    ("epoch", "2"),
    ("early_stopping.epoch", 10**6),
    ("model.classifier.4.bias", torch.zeros(7)),
    ("rng.torch", "seed"),
]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=[field for field, _ in REFUSED])
def test_with_its_config_a_damaged_last_pt_is_refused_and_nothing_is_overwritten(
    stopped_run, tmp_path, field, value, capsys
):
    run_dir = damaged_copy(stopped_run, tmp_path, field, value)
    before = files(run_dir)
    argv = ["train", "--resume", "--name", "victim", "--runs-dir", str(run_dir.parent)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert err.rstrip().endswith(line) and "Traceback" not in err
    assert f"{run_dir / runs.LAST}" in line and "nothing was changed: add --restart" in line
    assert files(run_dir) == before  # best.pt, last.pt and the history kept


def test_restart_starts_such_a_run_over_from_its_config_and_says_so(stopped_run, tmp_path, capsys):
    run_dir = damaged_copy(stopped_run, tmp_path, "early_stopping.epoch", 10**6)
    argv = ["train", "--resume", "--name", "victim", "--runs-dir", str(run_dir.parent)]
    assert cli.main(argv) == 2
    assert "add --restart to train run victim again from epoch 1" in capsys.readouterr().err
    assert cli.main([*argv, "--restart"]) == 0
    captured = capsys.readouterr()
    assert "run victim starts over from epoch 1 with its saved config" in captured.err
    assert "Epoch 1:" in captured.out and "completed 3/3 epochs" in captured.out
    assert runs.read_history(run_dir)["epoch"].tolist() == [1, 2, 3]


def test_restart_needs_a_config_to_start_from(stopped_run, tmp_path, capsys):
    run_dir = damaged_copy(stopped_run, tmp_path, "epoch", "2")
    (run_dir / runs.CONFIG).unlink()
    before = files(run_dir)
    argv = ["train", "--resume", "--name", "victim", "--runs-dir", str(run_dir.parent)]
    assert cli.main([*argv, "--restart"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"cannot restart run victim: {run_dir} holds no config.json" in line
    assert files(run_dir) == before


def test_the_intact_last_pt_resumes(stopped_run, tmp_path):
    """Control: the copy, undamaged, resumes where it stopped."""
    run_dir = tmp_path / "runs" / "intact"
    shutil.copytree(stopped_run, run_dir)
    state = read_resume_state(run_dir / runs.LAST)
    assert len(state.history) == 2 and state.position is None
    result = fit(prepare_resume(run_dir))
    assert [row["epoch"] for row in result.history] == [1, 2, 3]


# --- no usable last.pt: killed before the first checkpoint, or inside its first write -----------

ROOT = Path(__file__).resolve().parents[1]


def cli_train(data: Path, runs_dir: Path, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lab.cli", "train", "--data", str(data), "--epochs", "2"]
    command += ["--batch-size", "16", "--width", "0.125", "--runs-dir", str(runs_dir)]
    command += ["--name", "early", *extra]
    # Every write lingers 0.3 s before its rename: a kill can land inside the first one.
    env = {**os.environ, "OMP_NUM_THREADS": "1", SAVE_DELAY_ENV: "0.3"}
    with log.open("w") as stderr:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )


def kill_when(run: subprocess.Popen, log: Path, condition) -> None:
    wait_until(condition, timeout=120, interval=0.005, what="the moment", process=run, log=log)
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL


AFRESH = "nothing to resume in {run_dir}: run early starts afresh with the settings given"
AGAIN = "no last.pt yet; run early starts again from epoch 1 with its saved config"
KILLS = {
    # before the data is loaded and the folder made: nothing is left
    "in its first seconds": (lambda run_dir: True, AFRESH),
    # the folder is made once the data is checked, config.json once the model is built
    "before its config.json": (lambda run_dir: run_dir.is_dir(), AFRESH),
    # config.json is written first, and the first checkpoint an epoch later
    "before the first checkpoint": (lambda run_dir: (run_dir / runs.CONFIG).exists(), AGAIN),
    # best.pt is renamed into place, then last.pt's temp file lingers: kill inside that write
    "inside the first last.pt write": (lambda run_dir: any(run_dir.glob(".last.pt.*.tmp")), AGAIN),
}


@pytest.mark.slow
@pytest.mark.parametrize("when", list(KILLS))
def test_a_run_killed_before_a_usable_last_pt_resumes_from_epoch_1(tiny_folder, tmp_path, when):
    runs_dir, log = tmp_path / "runs", tmp_path / "1.log"
    run_dir = runs_dir / "early"
    condition, notice = KILLS[when]
    kill_when(cli_train(tiny_folder, runs_dir, log), log, lambda: condition(run_dir))
    assert not (run_dir / runs.LAST).exists()  # the kill landed where it should
    if notice == AFRESH:
        assert not (run_dir / runs.CONFIG).exists()
    if when.startswith("inside"):
        assert (run_dir / runs.BEST).exists() and list(run_dir.glob(".last.pt.*.tmp"))

    resumed = cli_train(tiny_folder, runs_dir, tmp_path / "2.log", "--resume")
    out = resumed.stdout.read()
    assert resumed.wait(timeout=300) == 0, (tmp_path / "2.log").read_text()[-2000:]
    err = (tmp_path / "2.log").read_text()
    assert notice.format(run_dir=run_dir) in err
    assert "Epoch 1:" in out and "completed 2/2 epochs" in out
    assert runs.read_history(run_dir)["epoch"].tolist() == [1, 2]
    assert [p.name for p in runs_dir.iterdir()] == ["early"]
    assert not list(run_dir.glob(".*.tmp"))


@pytest.mark.parametrize("left", ["no folder", "an empty folder"])
def test_resume_with_nothing_to_resume_starts_the_run_with_the_command_line(
    tiny_folder, tmp_path, capsys, left
):
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "early"
    if left == "an empty folder":
        run_dir.mkdir(parents=True)
    argv = ["train", "--resume", "--name", "early", "--runs-dir", str(runs_dir)]
    argv += ["--data", str(tiny_folder), "--epochs", "1", "--batch-size", "16", "--width", "0.125"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    (notice,) = [line for line in captured.err.splitlines() if "nothing to resume" in line]
    assert notice == "cifar-lab train: " + AFRESH.format(run_dir=run_dir)
    assert "completed 1/1 epochs" in captured.out
    assert [p.name for p in runs_dir.iterdir()] == ["early"]
    assert read_checkpoint(run_dir / runs.LAST)["config"]["model"]["width"] == 0.125


@pytest.fixture
def manager():
    made = JobManager(max_running=1, idle_pause_s=600, device=pick_device("cpu"))
    yield made
    made.stop_all()


def test_the_job_manager_resumes_such_a_run_from_epoch_1_too(manager, tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=2)
    run_dir = runs.create_run_dir(tmp_path / "runs", "early")
    runs.write_config(run_dir, config)
    job_id = manager.resume_run(run_dir)
    assert "starts again from epoch 1 with its saved config" in manager.snapshot(job_id).reason
    assert manager.wait(job_id, 120) == jobs.FINISHED, manager.snapshot(job_id).error
    assert [row["epoch"] for row in manager.snapshot(job_id).history] == [1, 2]
    assert read_resume_state(run_dir / runs.LAST).outcome.complete


def test_the_job_manager_refuses_a_damaged_last_pt_in_one_line(manager, stopped_run, tmp_path):
    """The app's Resume: a clear refusal, nothing queued and nothing overwritten."""
    run_dir = damaged_copy(stopped_run, tmp_path, "history", "rows")
    before = files(run_dir)
    with pytest.raises(LabError) as caught:
        manager.resume_run(run_dir)
    (line,) = str(caught.value).splitlines()
    assert f"cannot resume from {run_dir / runs.LAST}: its history is 'rows'" in line
    assert manager.jobs() == [] and files(run_dir) == before


def test_a_last_pt_from_a_newer_lab_is_refused_never_restarted(stopped_run, tmp_path, capsys):
    run_dir = damaged_copy(stopped_run, tmp_path, "format_version", FORMAT_VERSION + 1)
    best = (run_dir / runs.BEST).read_bytes()
    argv = ["train", "--resume", "--name", "victim", "--runs-dir", str(run_dir.parent)]
    assert cli.main(argv) == 2
    assert "upgrade cifar-lab" in capsys.readouterr().err
    assert (run_dir / runs.BEST).read_bytes() == best  # nothing of the run was overwritten
