"""One line on stderr, exit 2, never a traceback: unusable folders, devices and image files,
and the mistakes the lab used to let through in silence."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import cli
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
