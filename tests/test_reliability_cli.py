"""One line on stderr, exit 2, never a traceback: unusable folders, devices and image files,
and the mistakes the lab used to let through in silence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import cli, runs
from lab.checkpoint import read_checkpoint
from lab.config import DATA_ENV
from tests.conftest import make_image_folder
from tests.test_reliability_images import patched_header_bomb


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert "Traceback" not in err
    return errors[0]


def train(tiny_folder, runs_dir, *flags) -> int:
    argv = ["train", "--data", str(tiny_folder), "--epochs", "1", "--batch-size", "16"]
    return cli.main([*argv, "--width", "0.125", "--runs-dir", str(runs_dir), *flags])


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write in, root included: a read-only tmpfs where mode bits do not
    stop the user (root)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    mounted = False
    if os.access(folder, os.W_OK):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)])
        if done.returncode != 0:
            pytest.skip("cannot make a folder read-only for this user")
        mounted = True
    yield folder
    if mounted:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda tmp, ro: tmp / "a-file", "is a file, not a folder"),
        (lambda tmp, ro: tmp / "a-file" / "runs", "cannot be made: a-file is a file"),
        (lambda tmp, ro: Path("/proc/cifar-lab-runs"), "cannot create the runs folder"),
        (lambda tmp, ro: ro / "runs", "cannot create the runs folder"),
        (lambda tmp, ro: ro, "cannot write in the runs folder"),
    ],
    ids=["a file", "under a file", "under /proc", "under a read-only folder", "read-only"],
)
def test_an_unusable_runs_folder_is_one_line(
    where, message, tiny_folder, tmp_path, read_only_dir, capsys
):
    (tmp_path / "a-file").write_text("not a folder")
    assert train(tiny_folder, where(tmp_path, read_only_dir)) == 2
    assert message in one_error_line(capsys)
    assert (tmp_path / "a-file").read_text() == "not a folder"


@pytest.mark.parametrize("device", ["foo", "meta", "mps", "cuda:99", "cpu:x"])
def test_an_unusable_device_is_one_line_and_leaves_no_run_folder(
    device, tiny_folder, tmp_path, capsys
):
    assert train(tiny_folder, tmp_path / "runs", "--device", device) == 2
    line = one_error_line(capsys)
    assert f"device '{device}'" in line and "cpu" in line
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


@pytest.fixture
def image_folder(tmp_path):
    return make_image_folder(tmp_path / "data", train_per_class=2, test_per_class=1)


def test_stats_on_a_folder_with_a_self_link_is_one_line(image_folder, capsys):
    (image_folder / "train" / "circle" / "x.jpg").symlink_to("x.jpg")
    assert cli.main(["stats", "--data", str(image_folder)]) == 2
    line = one_error_line(capsys)
    assert "x.jpg" in line and "symbolic links" in line


def test_stats_on_a_folder_with_a_decompression_bomb_is_one_line(image_folder, capsys):
    (image_folder / "test" / "square" / "bomb.png").write_bytes(patched_header_bomb(30_000, 30_000))
    assert cli.main(["stats", "--data", str(image_folder)]) == 2
    line = one_error_line(capsys)
    assert "bomb.png" in line and "megapixels accepted" in line


def test_the_scanner_still_follows_a_link_to_a_real_image(image_folder, capsys):
    real = image_folder / "train" / "circle" / "0000.png"
    shutil.copy(real, image_folder / "elsewhere.png")
    (image_folder / "train" / "circle" / "linked.png").symlink_to(image_folder / "elsewhere.png")
    assert cli.main(["stats", "--data", str(image_folder), "--json"]) == 0
    assert '"circle": 3' in capsys.readouterr().out


# --- mistakes that used to pass in silence (item 12) ----------------------------------------------


def test_a_subset_larger_than_the_data_is_refused(tiny_folder, tmp_path, capsys):
    assert train(tiny_folder, tmp_path / "runs", "--subset", "100000") == 2
    line = one_error_line(capsys)
    assert "subset 100000 is larger than the training split" in line and "at most 72" in line
    assert not (tmp_path / "runs").exists()


def test_a_width_for_a_model_it_does_not_apply_to_is_refused(tiny_folder, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_folder), "--model", "alexnet", "--width", "0.5"]
    assert cli.main([*argv, "--runs-dir", str(tmp_path / "runs")]) == 2
    assert (
        "width applies only to alexnet_cifar and alexnet_whitened, not alexnet"
        in one_error_line(capsys)
    )
    assert not (tmp_path / "runs").exists()


def test_a_one_class_data_set_is_refused_before_training(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data", train_per_class=4, test_per_class=2)
    for split in ("train", "test"):
        for name in ("square", "stripes"):
            shutil.rmtree(data / split / name)
    assert train(data, tmp_path / "runs") == 2
    assert "has 1 class: a classifier needs at least two" in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def finished_run(tiny_folder, tmp_path):
    runs_dir = tmp_path / "runs"
    assert train(tiny_folder, runs_dir, "--name", "done") == 0
    return runs_dir / "done"


def test_resume_refuses_a_config_json_edited_after_the_run_started(finished_run, capsys):
    capsys.readouterr()
    config = json.loads((finished_run / runs.CONFIG).read_text())
    config["train"]["epochs"] = 5  # the classic: "train it longer"
    (finished_run / runs.CONFIG).write_text(json.dumps(config))
    argv = ["train", "--resume", "--name", "done", "--runs-dir", str(finished_run.parent)]
    assert cli.main(argv) == 2
    line = one_error_line(capsys)
    assert "config.json differs from last.pt" in line and "epochs 5 in config.json, 1 in" in line
    # What `runs` shows is what the run holds: nothing trained on a config it does not show.
    assert read_checkpoint(finished_run / runs.LAST)["config"]["train"]["epochs"] == 1


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--data", "OTHER"], "--data {other} (its own {own})"),
        (["--epochs", "5"], "--epochs 5 (its own 1)"),
        (["--preset", "cpu-5min"], "--preset cpu-5min (its own cpu-fast)"),
        (["--lr", "0.5", "--data", "OTHER"], "--data {other} (its own {own}), --lr 0.5 (its own"),
    ],
)
def test_resume_refuses_run_options_other_than_the_runs_own(
    finished_run, tiny_folder, tmp_path, capsys, flags, named
):
    capsys.readouterr()
    other = make_image_folder(tmp_path / "other", train_per_class=2, test_per_class=1)
    flags = [str(other) if flag == "OTHER" else flag for flag in flags]
    before = {path.name: path.read_bytes() for path in finished_run.iterdir()}
    argv = ["train", "--resume", "--name", "done", "--runs-dir", str(finished_run.parent)]
    assert cli.main([*argv, *flags]) == 2
    line = one_error_line(capsys)
    assert "--resume continues run done with the settings it trained with" in line
    assert named.format(other=other.resolve(), own=tiny_folder.resolve()) in line
    assert {path.name: path.read_bytes() for path in finished_run.iterdir()} == before


def test_resume_accepts_the_runs_own_options_however_written(
    finished_run, tiny_folder, capsys, monkeypatch
):
    monkeypatch.chdir(tiny_folder.parent)
    argv = ["train", "--resume", "--name", "done", "--runs-dir", str(finished_run.parent)]
    own = ["--data", tiny_folder.name, "--preset", "cpu-fast", "--epochs", "1", "--width", "0.125"]
    assert cli.main([*argv, *own]) == 0
    assert "completed 1/1 epochs" in capsys.readouterr().out


def test_a_sweep_larger_than_the_cap_is_refused_before_anything_starts(
    tiny_folder, tmp_path, capsys
):
    rates = ",".join(f"{i / 1e4:g}" for i in range(1, 1001))
    argv = ["sweep", "--data", str(tiny_folder), "--lr", rates, "--batch-size", "16,32,64"]
    assert cli.main([*argv, "--runs-dir", str(tmp_path / "runs")]) == 2
    line = one_error_line(capsys)
    assert "a sweep trains at most 64 runs" in line and "this grid trains 3000" in line
    assert not (tmp_path / "runs").exists()


def test_a_missing_config_json_is_written_again_from_last_pt(finished_run, capsys):
    saved = json.loads((finished_run / runs.CONFIG).read_text())
    (finished_run / runs.CONFIG).unlink()
    argv = ["train", "--resume", "--name", "done", "--runs-dir", str(finished_run.parent)]
    assert cli.main(argv) == 0
    assert json.loads((finished_run / runs.CONFIG).read_text()) == saved


# --- a run's own data (item 13) -------------------------------------------------------------------


@pytest.fixture
def run_on_own_data(tiny_folder, tmp_path, monkeypatch):
    """A run trained on a folder given by a relative path, then used from another folder with
    CIFAR_LAB_DATA pointing at nothing."""
    shutil.copytree(tiny_folder, tmp_path / "work" / "small")
    monkeypatch.chdir(tmp_path / "work")
    assert train(Path("small"), tmp_path / "runs", "--name", "own") == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "no-data-here"))
    return tmp_path / "runs"


def test_the_run_stores_the_resolved_source(run_on_own_data, tmp_path):
    stored = json.loads((run_on_own_data / "own" / runs.CONFIG).read_text())["data"]["source"]
    assert stored == str((tmp_path / "work" / "small").resolve())


def test_eval_and_export_use_the_data_the_run_was_trained_on(run_on_own_data, capsys):
    argv = ["eval", "own", "--runs-dir", str(run_on_own_data), "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 24
    assert cli.main(["export", "own", "--runs-dir", str(run_on_own_data)]) == 0
    assert Path(capsys.readouterr().out.strip()).name == "own-card.zip"


def test_data_still_overrides_the_runs_own(run_on_own_data, tmp_path, capsys):
    other = make_image_folder(tmp_path / "other", train_per_class=2, test_per_class=1)
    shutil.move(other / "train" / "circle", other / "train" / "disc")
    shutil.move(other / "test" / "circle", other / "test" / "disc")
    for command in ("eval", "export"):
        argv = [command, "own", "--runs-dir", str(run_on_own_data), "--data", str(other)]
        assert cli.main(argv) == 2
        assert "the data's classes ['disc', 'square', 'stripes'] differ" in one_error_line(capsys)
