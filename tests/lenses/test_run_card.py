"""Run cards: the zip holds the run's files, its confusion matrix, checkpoint, versions and
script; the ``cifar-lab export`` command writes one."""

from __future__ import annotations

import io
import json
import platform
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

import lab
from lab import runs
from lab.checkpoint import load_model
from lab.cli import main
from lab.codegen import render_script
from lab.config import RunConfig
from lab.data import load_dataset
from lab.errors import LabError
from lab.evaluate import Evaluation, evaluate_model
from lab.lenses.run_card import write_run_card

FILES = {
    "config.json",
    "history.csv",
    "metrics.json",
    "confusion_matrix.csv",
    "best.pt",
    "versions.json",
    "train.py",
}


def card_files(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as card:
        assert card.testzip() is None
        return {name: card.read(name) for name in card.namelist()}


def test_run_card_contents(tiny_run, tmp_path):
    dataset = load_dataset(runs.read_config(tiny_run)["data"]["source"])
    out = write_run_card(tiny_run, tmp_path / "cards" / "tiny.zip", dataset=dataset)
    assert out == tmp_path / "cards" / "tiny.zip"
    files = card_files(out)
    assert set(files) == {f"tiny/{name}" for name in FILES}
    for name in ("config.json", "history.csv", "metrics.json", "best.pt"):
        assert files[f"tiny/{name}"] == (tiny_run / name).read_bytes()
    # The confusion matrix is the best checkpoint's on the test split, with class names.
    expected = evaluate_model(load_model(tiny_run / "best.pt"), dataset.test).confusion()
    confusion = pd.read_csv(io.BytesIO(files["tiny/confusion_matrix.csv"]), index_col=0)
    assert list(confusion.index) == list(confusion.columns) == list(dataset.classes)
    assert confusion.to_numpy().tolist() == expected.tolist()
    versions = json.loads(files["tiny/versions.json"])
    assert versions["python"] == platform.python_version()
    assert versions["torch"] == torch.__version__
    assert versions["lab"] == lab.__version__
    assert {"torchvision", "run", "checkpoint", "exported"} <= set(versions)
    assert versions["checkpoint"] == "best.pt"
    # The run's recipe as a standalone script (tests/test_codegen.py runs such scripts).
    config = RunConfig.from_dict(runs.read_config(tiny_run))
    assert files["tiny/train.py"].decode() == render_script(config)
    assert not list(out.parent.glob(".*.tmp"))  # the temp file was renamed away


def test_run_card_uses_a_given_evaluation_and_tolerates_an_unfinished_run(tiny_run, tmp_path):
    run_dir = tmp_path / "unfinished"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / runs.METRICS).unlink()
    labels = np.array([0, 1, 2, 2])
    probabilities = np.eye(3)[[0, 1, 1, 2]]
    classes = ("circle", "square", "stripes")
    evaluation = Evaluation(classes, labels, probabilities, loss=0.0)
    files = card_files(write_run_card(run_dir, tmp_path / "card.zip", evaluation=evaluation))
    confusion = pd.read_csv(io.BytesIO(files["unfinished/confusion_matrix.csv"]), index_col=0)
    assert confusion.to_numpy().tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert json.loads(files["unfinished/metrics.json"]) == {}


def test_run_card_needs_a_run_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabError, match="not a run folder"):
        write_run_card(tmp_path / "empty", tmp_path / "card.zip")


def test_cli_export(tiny_run, tiny_folder, tmp_path, capsys):
    out = tmp_path / "card.zip"
    code = main(["export", str(tiny_run), "--out", str(out), "--data", str(tiny_folder)])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert {name.split("/", 1)[1] for name in card_files(out)} == FILES


def test_cli_export_by_name_into_the_working_folder(tiny_run, tiny_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["export", "tiny", "--runs-dir", str(tiny_run.parent), "--data", str(tiny_folder)])
    assert code == 0
    assert (tmp_path / "tiny-card.zip").is_file()


def test_cli_export_of_an_unknown_run(tmp_path, capsys):
    code = main(["export", "nope", "--runs-dir", str(tmp_path)])
    assert code == 2
    assert "no checkpoint or run named 'nope'" in capsys.readouterr().err
