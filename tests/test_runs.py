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


# --- deleting: only a folder the lab made --------------------------------------------------------


def lab_run(runs_dir, name="done"):
    """A run folder as the lab leaves it, temp file of a write cut short included."""
    run = runs.create_run_dir(runs_dir, name)
    for file in (runs.CONFIG, runs.BEST, runs.LAST, runs.HISTORY, runs.METRICS):
        (run / file).write_text("{}")
    (run / ".last.pt.k2j4x9.tmp").write_bytes(b"half")
    return run


def test_a_run_folder_the_lab_made_is_deleted(tmp_path):
    run = lab_run(tmp_path)
    runs.delete_run(run, tmp_path)
    assert not run.exists() and tmp_path.is_dir()


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        (lambda run: (run / "notes.txt").write_text("mine"), "notes.txt"),
        (lambda run: (run / "photos").mkdir(), "photos"),
        (lambda run: (run / runs.CONFIG).unlink(), "no config.json"),
    ],
    ids=["a foreign file", "a subfolder", "no config.json"],
)
def test_a_folder_with_anything_foreign_is_refused_and_kept_whole(tmp_path, plant, message):
    run = lab_run(tmp_path, "important")
    plant(run)
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(LabError, match=f"not a run folder the lab made.*{message}"):
        runs.delete_run(run, tmp_path)
    assert sorted(p.name for p in run.iterdir()) == before


def test_the_issue_repro_important_best_pt_and_notes_survive(tmp_path):
    important = tmp_path / "important"
    important.mkdir()
    (important / runs.BEST).write_bytes(b"weights")
    (important / "notes.txt").write_text("years of work")
    with pytest.raises(LabError, match="nothing deleted"):
        runs.delete_run(important, tmp_path)
    assert (important / "notes.txt").read_text() == "years of work"


def test_links_are_never_followed_out_of_the_runs_folder(tmp_path):
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    runs_dir.mkdir()
    victim = lab_run(outside, "victim")  # looks like a run, but lives elsewhere
    (runs_dir / "link").symlink_to(victim, target_is_directory=True)
    with pytest.raises(LabError, match="is a link"):
        runs.delete_run(runs_dir / "link", runs_dir)
    run = lab_run(runs_dir, "run")
    (run / runs.BEST).unlink()
    (run / runs.BEST).symlink_to(victim / runs.BEST)  # a lab name, but a link
    with pytest.raises(LabError, match="best.pt is a link"):
        runs.delete_run(run, runs_dir)
    assert sorted(p.name for p in victim.iterdir()) == sorted(
        [runs.CONFIG, runs.BEST, runs.LAST, runs.HISTORY, runs.METRICS, ".last.pt.k2j4x9.tmp"]
    )
    assert (run / runs.BEST).is_symlink()


def test_only_a_folder_directly_inside_the_runs_folder(tmp_path):
    nested = lab_run(tmp_path / "a" / "b")
    with pytest.raises(LabError, match="not a run folder of"):
        runs.delete_run(nested, tmp_path)
    assert nested.is_dir()
