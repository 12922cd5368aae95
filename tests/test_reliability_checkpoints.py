"""Hostile and broken checkpoints: code in a pickle never runs, every damage gets a clear error.

Each file is loaded the ways a user reaches it: ``lab.checkpoint.load_model`` (the app's code
path), the CLI in-process, and the installed ``cifar-lab`` script in a subprocess, whose stderr
must be exactly one line.
"""

from __future__ import annotations

import ast
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lab import cli, runs
from lab.checkpoint import FORMAT_VERSION, load_model, read_checkpoint
from lab.config import ModelConfig
from lab.errors import CheckpointError
from lab.models import build_model

CIFAR_LAB = Path(sys.executable).parent / "cifar-lab"


class CreatesFile:
    """Unpickling this calls ``open(path, "w")``: the file appearing proves code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def hostile_checkpoint(folder: Path, marker: Path, form: str) -> Path:
    path = folder / f"hostile-{form}.pt"
    payload = CreatesFile(marker)
    if form == "torch-zip":
        torch.save({"format_version": 1, "model": {"w": payload}}, path)
    elif form == "raw-pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:  # a notebook-style state_dict with one poisoned entry
        torch.save({"features.0.weight": torch.zeros(1), "features.0.bias": payload}, path)
    return path


@pytest.fixture(scope="module")
def trained(tiny_folder, tiny_run):
    """A real run's checkpoint and an image to classify with it."""
    image = next((tiny_folder / "test" / "circle").iterdir())
    return tiny_run / runs.BEST, image


FORMS = ["torch-zip", "raw-pickle", "state-dict"]


@pytest.mark.parametrize("form", FORMS)
def test_the_crafted_files_do_run_code_when_unpickled_unsafely(tmp_path, form):
    """Control: the payloads are live, so the refusals below are what keeps the file away."""
    marker = tmp_path / "ran"
    path = hostile_checkpoint(tmp_path, marker, form)
    if form == "raw-pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("form", FORMS)
def test_hostile_checkpoint_is_refused_by_load_model_and_runs_nothing(tmp_path, form):
    marker = tmp_path / "ran"
    path = hostile_checkpoint(tmp_path, marker, form)
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "could run code" in message and re.search(r"a reference to \w+\.open", message)
    assert "weights_only" not in message  # torch's "retry unsafely" advice is not passed on
    assert not marker.exists()


@pytest.mark.parametrize("form", FORMS)
def test_hostile_checkpoint_is_refused_by_cli_predict_and_eval(
    tmp_path, form, trained, tiny_folder, capsys
):
    _, image = trained
    marker = tmp_path / "ran"
    path = hostile_checkpoint(tmp_path, marker, form)
    assert cli.main(["predict", str(path), str(image)]) == 2
    assert cli.main(["eval", str(path), "--data", str(tiny_folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("could run code") == 2 and "Traceback" not in err
    assert not marker.exists()


def test_hostile_last_checkpoint_is_refused_on_resume(tmp_path, tiny_folder, capsys):
    marker = tmp_path / "ran"
    run_dir = tmp_path / "runs" / "victim"
    run_dir.mkdir(parents=True)
    hostile_checkpoint(tmp_path, marker, "torch-zip").rename(run_dir / runs.LAST)
    argv = ["train", "--resume", "--name", "victim", "--runs-dir", str(tmp_path / "runs")]
    assert cli.main([*argv, "--data", str(tiny_folder)]) == 2
    assert "could run code" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.slow
def test_installed_cli_prints_one_line_and_runs_nothing(tmp_path, trained):
    """The real script: torch's warning about the pickle protocol does not reach stderr."""
    _, image = trained
    marker = tmp_path / "ran"
    path = hostile_checkpoint(tmp_path, marker, "raw-pickle")
    done = subprocess.run(
        [str(CIFAR_LAB), "predict", str(path), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cifar-lab predict: error:") and "could run code" in lines[0]
    assert not marker.exists()


def _edited(best: Path, tmp_path: Path, name: str, **changes) -> Path:
    payload = read_checkpoint(best)
    payload.update(changes)
    path = tmp_path / f"{name}.pt"
    torch.save(payload, path)
    return path


def broken_checkpoint(kind: str, best: Path, tmp_path: Path) -> Path:
    data = best.read_bytes()
    payload = read_checkpoint(best)
    state = payload["model"]
    if kind == "zero bytes":
        (tmp_path / "empty.pt").write_bytes(b"")
        return tmp_path / "empty.pt"
    if kind.startswith("truncated"):
        keep = len(data) // 2 if kind == "truncated half" else 10
        (tmp_path / "cut.pt").write_bytes(data[:keep])
        return tmp_path / "cut.pt"
    if kind == "text file":
        (tmp_path / "notes.pt").write_text("these are my notes\n")
        return tmp_path / "notes.pt"
    if kind == "wrong architecture":
        classes = len(payload["classes"])
        alexnet = build_model(ModelConfig("alexnet"), num_classes=classes).state_dict()
        return _edited(best, tmp_path, "arch", model=alexnet)
    if kind == "missing key":
        return _edited(best, tmp_path, "missing", model=dict(list(state.items())[1:]))
    if kind == "extra key":
        return _edited(best, tmp_path, "extra", model={**state, "head.weight": torch.zeros(2)})
    if kind == "wrong class count":
        return _edited(best, tmp_path, "classes", classes=[f"c{i}" for i in range(10)])
    if kind == "newer format":
        return _edited(best, tmp_path, "future", format_version=FORMAT_VERSION + 1)
    if kind == "not a lab checkpoint":
        return _edited(best, tmp_path, "other", kind="someone-elses")
    if kind == "invalid config value":
        config = read_checkpoint(best)["config"]
        config["train"]["lr"] = -1.0
        return _edited(best, tmp_path, "config", config=config)
    if kind == "config not a mapping":
        return _edited(best, tmp_path, "config2", config="lr=0.1")
    if kind == "weights not a mapping":
        return _edited(best, tmp_path, "weights", model=[1, 2, 3])
    if kind == "bad statistics":
        return _edited(best, tmp_path, "stats", mean="abc")
    if kind == "zero std":
        return _edited(best, tmp_path, "std", std=[0.0, 0.0, 0.0])
    raise AssertionError(kind)


BROKEN = {
    "zero bytes": "empty (0 bytes)",
    "truncated half": "truncated or not a PyTorch file",
    "truncated 10 bytes": "truncated or not a PyTorch file",
    "text file": "truncated or not a PyTorch file",
    "wrong architecture": "does not match the model architecture",
    "missing key": "1 missing keys ['features.0.weight']",
    "extra key": "1 unexpected keys ['head.weight']",
    "wrong class count": "classifier.4.weight has shape (3,",
    "newer format": f"format version {FORMAT_VERSION + 1}, newer than this lab",
    "not a lab checkpoint": "not a CIFAR Lab checkpoint",
    "invalid config value": "invalid config: lr must be > 0",
    "config not a mapping": "invalid config",
    "weights not a mapping": "holds no model weights",
    "bad statistics": "no valid mean",
    "zero std": "every channel must be > 0",
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_checkpoint_gets_a_clear_error_naming_the_problem(kind, trained, tmp_path, capsys):
    best, image = trained
    path = broken_checkpoint(kind, best, tmp_path)
    with pytest.raises(CheckpointError, match=re.escape(BROKEN[kind])):
        load_model(path)
    assert cli.main(["predict", str(path), str(image)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and BROKEN[kind] in err and "Traceback" not in err


def test_the_intact_checkpoint_still_loads_and_classifies(trained, capsys):
    """Control for the cases above: the same file, unedited, loads and predicts."""
    best, image = trained
    assert load_model(best).classes == ("circle", "square", "stripes")
    assert cli.main(["predict", str(best), str(image), "--top-k", "1"]) == 0
    assert str(image) in capsys.readouterr().out


def test_every_load_in_the_lab_is_weights_only():
    """The promise behind the tests above holds for every loader: each ``torch.load`` passes
    ``weights_only=True`` and nothing calls pickle directly."""
    calls = []
    for path in sorted((Path(__file__).resolve().parents[1] / "lab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in ("torch.load", "pickle.load", "pickle.loads", "pickle.Unpickler"):
                safe = name == "torch.load" and any(
                    k.arg == "weights_only" and ast.unparse(k.value) == "True"
                    for k in node.keywords
                )
                calls.append((path.name, node.lineno, name, safe))
    assert calls and all(safe for *_, safe in calls), calls


@pytest.mark.parametrize("version", [-1, 0, True, False, 1.0, "2"])
def test_a_format_version_the_lab_never_wrote_is_refused(version, trained, tmp_path):
    best, _ = trained
    path = _edited(best, tmp_path, "version", format_version=version)
    with pytest.raises(CheckpointError, match=re.escape(f"format version {version!r}")):
        load_model(path)
