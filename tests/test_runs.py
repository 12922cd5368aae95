"""Run folders: safe names, one folder per run, listing and checkpoint resolution."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import cli, runs
from lab.errors import ConfigError, LabError
from lab.locks import RunLock
from lab.presets import cpu_fast_config

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_folder_no_run_started_in_does_not_take_the_name(tmp_path):
    (tmp_path / "early").mkdir()  # killed after its folder was made, before its config.json
    (tmp_path / "torn").mkdir()  # killed inside that write
    (tmp_path / "torn" / ".config.json.k2j4x9.tmp").write_text('{"data"')
    assert runs.create_run_dir(tmp_path, "early") == tmp_path / "early"
    assert runs.create_run_dir(tmp_path, "torn") == tmp_path / "torn"
    assert list((tmp_path / "torn").iterdir()) == []


@pytest.mark.parametrize("file", [runs.CONFIG, runs.BEST, runs.HISTORY, "notes.txt"])
def test_a_folder_holding_anything_else_keeps_its_name(tmp_path, file):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / file).write_text("{}")
    assert runs.create_run_dir(tmp_path, "kept") == tmp_path / "kept-2"
    with pytest.raises(LabError, match="kept holds a run already"):
        runs.create_run_dir(tmp_path, "kept", exact=True)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [file]


MAKE_AND_WAIT = """
import sys
from lab import runs
print(runs.create_run_dir(sys.argv[1], "queued"), flush=True)
sys.stdin.read()
"""


def test_a_new_folder_stays_taken_while_the_process_that_made_it_lives(tmp_path):
    """A run waits in a job queue in an empty folder: its name is taken until that process
    ends, however it ends."""
    maker = subprocess.Popen(
        [sys.executable, "-c", MAKE_AND_WAIT, str(tmp_path)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert maker.stdout.readline().strip() == str(tmp_path / "queued")
        assert runs.create_run_dir(tmp_path, "queued") == tmp_path / "queued-2"
        with pytest.raises(LabError, match="queued is taken by a run about to start"):
            runs.create_run_dir(tmp_path, "queued", exact=True)
    finally:
        maker.kill()
        maker.wait(timeout=30)
    assert runs.create_run_dir(tmp_path, "queued") == tmp_path / "queued"


def test_the_folder_is_let_go_once_its_run_takes_the_lock_or_is_cancelled(tmp_path):
    started = runs.create_run_dir(tmp_path, "started")
    with RunLock(started):
        pass  # a run that ends before writing anything leaves its folder unstarted
    assert runs.create_run_dir(tmp_path, "started") == started
    cancelled = runs.create_run_dir(tmp_path, "cancelled")
    runs.remove_empty_run_dir(cancelled)
    assert not cancelled.exists()
    assert runs.create_run_dir(tmp_path, "cancelled") == cancelled


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


@pytest.mark.parametrize(
    ("present", "shown"),
    [
        ((), "last.pt"),  # none yet: last.pt is the first a run writes
        (("last.pt",), "last.pt"),
        (("best.pt",), "best.pt"),
        (("best.pt", "last.pt"), "best.pt"),
    ],
)
def test_the_checkpoint_a_run_shows_is_best_else_last(tmp_path, present, shown):
    run = runs.create_run_dir(tmp_path, "run")
    for name in present:
        (run / name).write_bytes(b"x")
    assert runs.checkpoint_to_show(run) == run / shown
    checkpoint = runs.inspect_run(run).checkpoint
    assert checkpoint == (run / shown if present else None)


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


# --- listing: one damaged run never breaks the others --------------------------------------------


DAMAGE = {
    "config.json = [1,2,3]": (runs.CONFIG, "[1,2,3]", "config.json is not a JSON object"),
    "config.json not JSON": (runs.CONFIG, "{'lr': 1", "config.json is not JSON"),
    "config.json invalid": (
        runs.CONFIG,
        '{"train": {"lr": -1}}',
        "config.json is invalid: lr must be > 0",
    ),
    "history.csv unparsable": (
        runs.HISTORY,
        "epoch,train_loss\n1,2.0\n2,1.5,0.3,7,8\n",
        "history.csv cannot be read",
    ),
    "history.csv not numbers": (
        runs.HISTORY,
        "epoch,train_loss\n1,low\n",
        "history.csv: train_loss holds 'low'",
    ),
    "history.csv empty": (runs.HISTORY, "", "history.csv cannot be read"),
    "metrics.json = [1,2]": (runs.METRICS, "[1,2]", "metrics.json is not a JSON object"),
    'best_val_acc "high"': (
        runs.METRICS,
        '{"best_val_acc": "high"}',
        "metrics.json: best_val_acc is 'high', not a number",
    ),
    "epochs_run 2.5": (runs.METRICS, '{"epochs_run": 2.5}', "epochs_run is 2.5, not a whole"),
}


@pytest.fixture
def listed(tiny_run, tmp_path):
    """A runs folder with a good run and a copy of it, both finished."""
    runs_dir = tmp_path / "runs"
    for name in ("good", "hurt"):
        shutil.copytree(tiny_run, runs_dir / name)
    return runs_dir


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_is_listed_as_damaged_with_the_reason(listed, damage):
    file, text, reason = DAMAGE[damage]
    (listed / "hurt" / file).write_text(text)
    found = {run.name: run for run in runs.list_runs(listed)}
    assert set(found) == {"good", "hurt"}
    assert found["good"].damaged is None and found["good"].epochs == 2
    hurt = found["hurt"]
    assert hurt.damaged is not None and reason in hurt.damaged, hurt.damaged
    assert isinstance(hurt.config, dict) and isinstance(hurt.metrics, dict)
    if file == runs.CONFIG:
        assert hurt.config == {}
    if file == runs.METRICS:
        assert hurt.metrics == {} and hurt.best_val_acc is None


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_cifar_lab_runs_prints_the_damaged_run_and_the_others(listed, damage, capsys):
    file, text, reason = DAMAGE[damage]
    (listed / "hurt" / file).write_text(text)
    assert cli.main(["runs", "--runs-dir", str(listed)]) == 0
    lines = capsys.readouterr().out.splitlines()
    (hurt,) = [line for line in lines if line.startswith("hurt ")]
    assert "damaged: " in hurt and reason in hurt
    (good,) = [line for line in lines if line.startswith("good ")]
    assert "completed 2/2 epochs" in good
    assert cli.main(["runs", "--runs-dir", str(listed), "--json"]) == 0
    listing = {run["name"]: run for run in json.loads(capsys.readouterr().out)}
    assert reason in listing["hurt"]["damaged"] and listing["good"]["damaged"] is None


def test_a_run_killed_before_its_first_checkpoint_is_listed(tmp_path):
    run = runs.create_run_dir(tmp_path, "early")
    (run / runs.CONFIG).write_text(json.dumps(cpu_fast_config("x").to_dict()))
    (listed,) = runs.list_runs(tmp_path)
    assert listed.name == "early" and listed.checkpoint is None and listed.damaged is None
    (run / runs.LAST).write_bytes(b"x")
    assert runs.list_runs(tmp_path)[0].checkpoint == run / runs.LAST
    (run / runs.BEST).write_bytes(b"x")
    assert runs.list_runs(tmp_path)[0].checkpoint == run / runs.BEST


def test_links_and_foreign_folders_are_not_listed(tmp_path):
    outside = tmp_path / "outside"
    lab_run(outside, "elsewhere")
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (runs_dir / "link").symlink_to(outside / "elsewhere", target_is_directory=True)
    (runs_dir / "photos").mkdir()
    (runs_dir / "photos" / "cat.jpg").write_bytes(b"x")
    assert runs.list_runs(runs_dir) == []


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("  Ada \t\n Lovelace ", "Ada Lovelace"),
        ("Zoë O'Brien-Smith", "Zoë O'Brien-Smith"),
        ("**Ada** [x](http://a.b) :red[y] <b>_z_</b>", "Ada xhttpa.b redy bzb"),
        ("x" * 100, "x" * runs.MAX_OWNER_NAME),
        ("!!!", ""),
    ],
)
def test_a_students_name_keeps_only_plain_characters(typed, recorded):
    assert runs.owner_name(typed) == recorded


def test_the_owner_file_records_the_name_and_is_deleted_with_the_run(tmp_path):
    run_dir = runs.create_run_dir(tmp_path, "owned")
    assert runs.read_owner(run_dir) is None
    runs.write_config(run_dir, cpu_fast_config())
    runs.write_owner(run_dir, " Ada  Lovelace ")
    assert json.loads((run_dir / runs.OWNER).read_text()) == {"name": "Ada Lovelace"}
    assert runs.read_owner(run_dir) == "Ada Lovelace"
    runs.delete_run(run_dir, tmp_path)
    assert not run_dir.exists()


@pytest.mark.parametrize("text", ['{"name": 7}', '{"name": "<b>"}', '["Ada"]', "{"])
def test_a_damaged_owner_file_is_named(tmp_path, text):
    (tmp_path / runs.OWNER).write_text(text)
    with pytest.raises(LabError, match=runs.OWNER):
        runs.read_owner(tmp_path)


def test_a_name_with_nothing_usable_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no usable characters"):
        runs.write_owner(tmp_path, "***")
    assert not (tmp_path / runs.OWNER).exists()
