"""The cifar-lab command line on the tiny folder: every command, JSON output, clean errors."""

from __future__ import annotations

import json

import pytest

from lab.cli import main
from lab.data import load_dataset


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tiny_folder, tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("cli-runs")
    argv = ["train", "--data", tiny_folder, "--subset", 60, "--epochs", 2, "--width", 0.25]
    argv += ["--batch-size", 16, "--runs-dir", runs_dir, "--name", "cli run"]
    assert main([str(a) for a in argv]) == 0
    return runs_dir


def test_stats_json(capsys, tiny_folder):
    code, out, _ = run_cli(capsys, "stats", "--data", tiny_folder, "--json")
    stats = json.loads(out)
    assert code == 0 and stats["counts"]["test"] == {"circle": 8, "square": 8, "stripes": 8}
    assert len(stats["mean"]) == 3 and stats["image_size"] == [32, 32]


def test_train_prints_the_notebook_epoch_line(capsys, tiny_folder, tmp_path):
    code, out, err = run_cli(
        capsys, "train", "--data", tiny_folder, "--epochs", 1, "--width", 0.25,
        "--batch-size", 16, "--runs-dir", tmp_path, "--name", "lines",
    )  # fmt: skip
    assert code == 0
    assert "Epoch 1: Training Loss:" in out and "Validation Accuracy:" in out
    assert "Model saved at accuracy of:" in out
    assert "epoch 1" in err  # the tqdm progress bar
    assert (tmp_path / "lines" / "best.pt").exists()


def test_runs_lists_the_run(capsys, trained):
    code, out, _ = run_cli(capsys, "runs", "--runs-dir", trained, "--json")
    (run,) = json.loads(out)
    assert code == 0 and run["name"] == "cli-run" and run["test_acc"] is not None


def test_eval_json(capsys, trained, tiny_folder):
    code, out, _ = run_cli(
        capsys, "eval", "cli-run", "--runs-dir", trained, "--data", tiny_folder, "--json"
    )
    result = json.loads(out)
    dataset = load_dataset(str(tiny_folder))
    assert code == 0 and result["images"] == len(dataset.test) and 0 <= result["accuracy"] <= 1
    assert len(result["confusion"]) == len(result["per_class"]) == len(dataset.classes)


def test_predict_json(capsys, trained, tiny_folder):
    image = tiny_folder / "test" / "stripes" / "0001.png"
    code, out, _ = run_cli(capsys, "predict", trained / "cli-run", image, "--top-k", 2, "--json")
    (result,) = json.loads(out)
    assert code == 0 and result["file"] == str(image)
    assert [len(result["top_k"])] == [2] and result["top_k"][0]["label"] in (
        "circle",
        "square",
        "stripes",
    )


def test_resume_of_a_finished_run_trains_nothing_more(capsys, trained):
    code, out, _ = run_cli(capsys, "train", "--resume", "--name", "cli-run", "--runs-dir", trained)
    assert code == 0 and "Epoch" not in out and "completed 2/2 epochs" in out


def test_sweep_prints_a_line_per_combination_and_trains_once_per_learning_rate(
    capsys, tiny_folder, tmp_path
):
    code, out, err = run_cli(
        capsys, "sweep", "--data", tiny_folder, "--lr", "1e-3,2e-3", "--patience", "0,2",
        "--epochs", 3, "--width", 0.25, "--batch-size", 16, "--runs-dir", tmp_path,
        "--name", "grid", "--device", "cpu",
    )  # fmt: skip
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 4
    assert [line.split()[:4] for line in lines] == [
        ["lr", "0.001", "patience", "0"],
        ["lr", "0.001", "patience", "2"],
        ["lr", "0.002", "patience", "0"],
        ["lr", "0.002", "patience", "2"],
    ]
    assert all("val acc" in line and "test acc" in line and " min " in line for line in lines)
    assert "(trained)" in lines[1] and "(replayed" in lines[0]
    assert "patience 0 is replayed from its history (no retraining)" in err
    sweep = json.loads((tmp_path / "grid" / "sweep.json").read_text())
    assert sweep["state"] == "finished" and len(sweep["results"]) == 4
    trained = sorted(path.parent.name for path in (tmp_path / "grid").glob("*/best.pt"))
    assert trained == ["lr0.001-bs16-ep3", "lr0.002-bs16-ep3"]
    assert [run["run"] for run in sweep["runs"]] == trained


def test_a_sweep_list_that_is_not_numbers_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--lr", "1e-3,abc"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "argument --lr: '1e-3,abc' is not a list of float values" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--lr", "-1"], "lr must be > 0"),
        (["train", "--val-fraction", "2"], "val_fraction must be between 0 and 0.5"),
        (["train", "--epochs", "0"], "epochs must be between 1 and 1000"),
        (["eval", "no-such-run"], "no checkpoint or run named"),
        (["predict", "no-such-run", "x.png"], "no checkpoint or run named"),
        (["train", "--resume"], "--resume needs --name"),
        (["sweep", "--lr", "1e-3,-1"], "lr must be > 0"),
        (["sweep", "--resume", "--name", "x", "--lr", "1e-3"], "--resume needs --name NAME"),
    ],
)
def test_user_errors_give_one_line_and_exit_2(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, *argv, "--runs-dir", tmp_path)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
