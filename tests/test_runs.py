"""Run folders: safe names, one folder per run, listing and checkpoint resolution."""

from __future__ import annotations

import pytest

from lab import runs
from lab.errors import ConfigError, LabError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("my run", "my-run"),
        ("../../etc/passwd", "etc-passwd"),
        ("a/b\\c", "a-b-c"),
        ("..hidden", "hidden"),
        ("ok_name-1.2", "ok_name-1.2"),
        ("x" * 100, "x" * 64),
    ],
)
def test_names_are_sanitised(name, expected):
    assert runs.sanitize_name(name) == expected


@pytest.mark.parametrize("name", ["", "..", "///", "  "])
def test_names_without_usable_characters_are_refused(name):
    with pytest.raises(ConfigError):
        runs.sanitize_name(name)


def test_two_runs_never_share_a_folder(tmp_path):
    first = runs.create_run_dir(tmp_path, "same")
    second = runs.create_run_dir(tmp_path, "same")
    assert first != second and first.name == "same" and second.name == "same-2"
    assert all(p.parent == tmp_path for p in (first, second))


def test_default_names_use_the_prefix(tmp_path):
    assert runs.create_run_dir(tmp_path, prefix="cpu-fast").name.startswith("cpu-fast-")


def test_listing_and_resolving(tmp_path):
    run = runs.create_run_dir(tmp_path, "done")
    (run / runs.BEST).write_bytes(b"x")
    runs.write_metrics(run, {"test_acc": 0.5, "best_val_acc": float("nan")})
    runs.create_run_dir(tmp_path, "empty")
    listed = runs.list_runs(tmp_path)
    assert [r.name for r in listed] == ["done"]
    assert listed[0].test_acc == 0.5 and listed[0].best_val_acc is None
    assert runs.resolve_checkpoint("done", tmp_path) == run / runs.BEST
    assert runs.resolve_checkpoint(run) == run / runs.BEST
    with pytest.raises(LabError, match="holds no best.pt"):
        runs.resolve_checkpoint(tmp_path / "empty")
    with pytest.raises(LabError, match="cifar-lab runs"):
        runs.resolve_checkpoint("missing", tmp_path)


def test_history_round_trip(tmp_path):
    rows = [{"epoch": 1, "train_loss": 1.5, "val_acc": None}]
    runs.write_history(tmp_path, rows)
    frame = runs.read_history(tmp_path)
    assert list(frame.columns) == list(runs.HISTORY_COLUMNS)
    assert frame.loc[0, "train_loss"] == 1.5
