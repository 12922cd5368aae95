"""Generated scripts and notebooks: a run's recipe in plain PyTorch trains on its own, prints the
lab's epoch lines, follows every setting, matches the lab's steps; ``cifar-lab code`` writes it."""

from __future__ import annotations

import ast
import inspect
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from nbclient import NotebookClient
from PIL import Image
from torch import nn

from lab import runs
from lab.augment import ReferenceAugment
from lab.batches import epoch_image_size, usable_batch_size
from lab.cli import main
from lab.codegen import (
    FIELD_PATHS,
    Section,
    render_notebook,
    render_script,
    script_sections,
    section_for_setting,
)
from lab.codegen.section import value_of
from lab.config import SETTINGS, RunConfig, declaration
from lab.data import load_dataset, make_splits
from lab.epoch_lines import epoch_line, saved_line
from lab.errors import ConfigError
from lab.fit import init_from_data
from lab.models import build_model
from lab.optim import make_optimizer, make_scheduler
from lab.presets import PRESET_NAMES, preset_config
from tests.conftest import make_image_folder, tiny_config

FIGURE = r"\d+\.\d{4}"
EPOCH_LINE = re.compile(
    rf"Epoch (\d+): Training Loss: {FIGURE}, Training Accuracy: {FIGURE}, "
    rf"Validation Loss: {FIGURE}, Validation Accuracy: ({FIGURE})"
)
# What a generated script may import: nothing of the lab.
ALLOWED_IMPORTS = {"os", "collections", "numpy", "torch", "PIL", "sklearn", "torchvision"}
TRAINING = "Training with early stopping and checkpointing"


@pytest.fixture(scope="module")
def tiny_recipe(tiny_run) -> RunConfig:
    return RunConfig.from_dict(runs.read_config(tiny_run))


def script_env(**extra: str) -> dict[str, str]:
    """The environment of a script run: this one's, without a CIFAR_DATA left from outside."""
    env = {key: value for key, value in os.environ.items() if key != "CIFAR_DATA"}
    return {**env, **extra}


def run_script(script: str, folder: Path, env: dict[str, str] | None = None):
    """Run ``script`` with ``python -I`` (no lab on the path) in the empty ``folder``/work."""
    path = folder / "recipe.py"
    path.write_text(script)
    work = folder / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-I", str(path)],
        cwd=work,
        env=env or script_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, work


def epoch_accuracies(output: str) -> dict[int, float]:
    """Validation accuracy by epoch, from the epoch lines (every one in the exact format)."""
    lines = [line for line in output.splitlines() if line.startswith("Epoch ")]
    matches = [EPOCH_LINE.fullmatch(line) for line in lines]
    assert lines and all(matches), lines
    return {int(m.group(1)): float(m.group(2)) for m in matches}


def run_until(config: RunConfig, title: str) -> dict:
    """Execute the script's sections before the one titled ``title`` in this process, and
    return what they defined (data, transforms, model, optimizer ...)."""
    namespace: dict = {"__name__": "recipe"}
    for section in script_sections(config):
        if section.title == title:
            return namespace
        exec(compile(section.code, section.title, "exec"), namespace)
    raise AssertionError(f"no section {title!r}")


def define(namespace: dict, config: RunConfig, title: str, name: str) -> None:
    """Execute only the definition of function ``name`` of section ``title`` in ``namespace``."""
    section = next(s for s in script_sections(config) if s.title == title)
    node = next(n for n in ast.parse(section.code).body if getattr(n, "name", None) == name)
    exec(compile(ast.Module([node], type_ignores=[]), title, "exec"), namespace)


# --- a run's script, run as a student would -------------------------------------------------------


@pytest.mark.slow
def test_the_script_of_a_run_trains_on_its_own(tiny_run, tiny_recipe, tmp_path):
    script = render_script(tiny_recipe)
    imported = set()
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_IMPORTS
    # The epoch lines are the lab's own functions, embedded.
    assert inspect.getsource(epoch_line) in script and inspect.getsource(saved_line) in script

    output, work = run_script(script, tmp_path)
    assert list(epoch_accuracies(output)) == [1, 2]
    assert "Model saved at accuracy of: " in output
    assert re.search(rf"^best epoch [12]: test accuracy {FIGURE}$", output, re.MULTILINE)
    assert sorted(os.listdir(work)) == ["best.pt"]
    weights = torch.load(work / "best.pt", weights_only=True)
    classes = load_dataset(tiny_recipe.data.source).classes
    expected = build_model(tiny_recipe.model, num_classes=len(classes)).state_dict()
    assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in expected.items()}
    # cifar-lab train's lines for the same run have the same form.
    history = runs.read_history(tiny_run).replace({np.nan: None}).to_dict("records")
    assert all(EPOCH_LINE.fullmatch(epoch_line(row)) for row in history)


@pytest.mark.slow
def test_the_data_folder_is_overridden_by_cifar_data(tiny_recipe, tmp_path):
    other = make_image_folder(tmp_path / "other", train_per_class=10, test_per_class=4)
    config = tiny_recipe.with_overrides(train={"epochs": 1})
    output, _ = run_script(render_script(config), tmp_path, script_env(CIFAR_DATA=str(other)))
    assert "30 training and 12 test images of ['circle', 'square', 'stripes']" in output
    assert list(epoch_accuracies(output)) == [1]


# --- every setting shows --------------------------------------------------------------------------

BASES = {name: preset_config(name, "/data/images") for name in PRESET_NAMES}


def _key(path: str) -> str | None:
    section, name = path.split(".")
    return next((k for k, s in SETTINGS.items() if (s.section, s.name) == (section, name)), None)


def _other_values(path: str, value: object) -> list:
    declared = declaration(*path.split("."))
    spec = declared.spec
    if spec.choices:
        options = list(spec.choices)
    elif declared.kind == "bool":
        options = [not value]
    elif declared.kind == "str":
        options = ["cifar10", "/elsewhere/images"]
    else:
        options = [*spec.options, spec.low, spec.high, 1, 100, (value or 1) * 2]
    return [option for option in options if option is not None and option != value]


def _changed(config: RunConfig, path: str) -> RunConfig | None:
    """``config`` with setting ``path`` at another valid value; None when it has none."""
    section, name = path.split(".")
    for other in _other_values(path, value_of(config, path)):
        try:
            return config.with_overrides(**{section: {name: other}})
        except ConfigError:
            continue
    return None


@pytest.mark.parametrize("path", FIELD_PATHS)
def test_every_setting_changes_the_section_it_lands_in(path):
    changed = 0
    for base in BASES.values():
        key = _key(path)
        if key is not None and not SETTINGS[key].applies_to(base.model.name):
            continue
        other = _changed(base, path)
        if other is None:
            continue
        changed += 1
        assert render_script(other) != render_script(base)
        before, after = section_for_setting(base, path), section_for_setting(other, path)
        assert before.title == after.title and before.code != after.code
    assert changed, f"no preset takes another value of {path}"


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_each_setting_lands_in_exactly_one_section(preset):
    sections = script_sections(BASES[preset])
    for path in FIELD_PATHS:
        assert sum(path in section.settings for section in sections) == 1, path
    for key, declared in SETTINGS.items():
        section = section_for_setting(BASES[preset], key)
        assert f"{declared.section}.{declared.name}" in section.settings


@pytest.mark.parametrize(
    ("key", "title"),
    [
        ("seed", "Libraries, seed and device"),
        ("precision", "Libraries, seed and device"),
        ("data.source", "The data"),
        ("val_fraction", "Training and validation images"),
        ("data.seed", "Training and validation images"),
        ("hflip_p", "Augmentation"),
        ("augment.resize", "Augmentation"),
        ("batch_size", "Data loaders"),
        ("model", "The model"),
        ("width", "The model"),
        ("lr", "Loss, optimizer and learning-rate schedule"),
        ("epochs", "Loss, optimizer and learning-rate schedule"),
        ("tta_flip", "Evaluation"),
        ("patience", TRAINING),
        ("checkpoint_every_s", TRAINING),
    ],
)
def test_section_for_setting(key, title):
    assert section_for_setting(BASES["cpu-5min"], key).title == title


def test_section_for_an_unknown_setting_names_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown setting 'nope': valid are"):
        section_for_setting(BASES["notebook"], "nope")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": " ", "why": "", "code": "x = 1"}, "needs a title and code"),
        ({"title": "T", "why": "", "code": ""}, "needs a title and code"),
        ({"title": "T", "why": "", "code": "x", "settings": ("train.nope",)}, "unknown settings"),
    ],
)
def test_a_section_is_checked_when_made(fields, message):
    with pytest.raises(ConfigError, match=message):
        Section(**fields)


def _variants() -> list[RunConfig]:
    """A config for every branch of the generator: model, optimizer, schedule and source."""
    found = []
    for base in BASES.values():
        for source in ("/data/images", "cifar10"):
            for optimizer in ("adam", "sgd"):
                for schedule in ("constant", "onecycle"):
                    found.append(
                        base.with_overrides(
                            data={"source": source},
                            train={"optimizer": optimizer, "schedule": schedule},
                        )
                    )
    return found


def test_every_kind_of_script_passes_ruff(tmp_path):
    variants = _variants()
    assert len({(c.model.name, c.data.source) for c in variants}) == 6
    for number, config in enumerate(variants):
        (tmp_path / f"recipe_{number}.py").write_text(render_script(config))
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W"]
        + ["--line-length", "100", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


# --- the steps match the lab's --------------------------------------------------------------------


def test_the_notebook_preset_is_the_course_pipeline(tiny_folder, monkeypatch):
    monkeypatch.delenv("CIFAR_DATA", raising=False)
    config = preset_config("notebook", str(tiny_folder))
    ns = run_until(config, "Evaluation")
    steps = ns["train_transform"].transforms
    assert [type(t).__name__ for t in steps] == [
        "Resize",
        "RandomHorizontalFlip",
        "RandomRotation",
        "ToTensor",
        "Normalize",
    ]
    resize, flip, rotation, _, normalize = steps
    assert resize.size == (227, 227) and flip.p == 0.5 and rotation.degrees == [-15.0, 15.0]
    dataset = load_dataset(tiny_folder)
    assert np.allclose(normalize.mean, dataset.mean) and np.allclose(normalize.std, dataset.std)
    assert [type(t).__name__ for t in ns["test_transform"].transforms] == [
        "Resize",
        "ToTensor",
        "Normalize",
    ]
    optimizer = ns["optimizer"]
    assert type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["lr"] == 1e-3
    assert optimizer.param_groups[0]["weight_decay"] == 0
    assert "scheduler" not in ns
    assert type(ns["criterion"]) is nn.CrossEntropyLoss and ns["criterion"].label_smoothing == 0
    assert ns["train_loader"].batch_size == 64 and ns["test_loader"].batch_size == 1000
    assert ns["val_loader"] is None  # the notebook held nothing out
    assert ns["EPOCHS"] == 30
    lab_model = build_model(config.model, num_classes=len(dataset.classes))
    assert list(ns["model"].state_dict()) == list(lab_model.state_dict())
    training = section_for_setting(config, "patience").code
    assert "PATIENCE = 5  #" in training and 'MONITOR = "test_acc"  #' in training
    assert 'torch.save(model.state_dict(), "best.pt")' in training


@pytest.mark.parametrize("recipe", ["cpu-1min", "cpu-fast"])
def test_the_steps_match_the_labs(recipe, tiny_folder, monkeypatch):
    monkeypatch.delenv("CIFAR_DATA", raising=False)
    if recipe == "cpu-fast":
        config = tiny_config(tiny_folder, epochs=3)
    else:
        config = preset_config(recipe, str(tiny_folder)).with_overrides(
            train={"batch_size": 16, "epochs": 4}
        )
    ns = run_until(config, "Evaluation")
    dataset = load_dataset(tiny_folder)
    splits = make_splits(dataset, config.data)
    assert np.allclose(ns["mean"], dataset.mean, rtol=0, atol=1e-12)
    assert np.allclose(ns["std"], dataset.std, rtol=0, atol=1e-12)

    def chw(index):
        return torch.from_numpy(ns["train_images"][index]).permute(0, 3, 1, 2)

    assert torch.equal(chw(ns["train_index"]), splits.train.images)
    assert torch.equal(chw(ns["val_index"]), splits.val.images)

    torch.manual_seed(config.train.seed)
    lab_model = build_model(config.model, num_classes=len(splits.classes))
    init_from_data(lab_model, config, splits)
    ours = ns["model"].state_dict()
    for name, tensor in lab_model.state_dict().items():
        assert torch.allclose(ours[name].float(), tensor.float(), atol=1e-4), name

    tc = config.train
    lab_optimizer = make_optimizer(lab_model, tc, torch.device("cpu"))
    optimizer = ns["optimizer"]
    assert type(optimizer) is type(lab_optimizer)
    for group, lab_group in zip(optimizer.param_groups, lab_optimizer.param_groups, strict=True):
        # The script's schedule has started: its rate is the first step's, initial_lr the peak.
        assert group.get("initial_lr", group["lr"]) == lab_group["lr"]
        for option in ("weight_decay", "momentum", "nesterov", "betas", "eps"):
            assert group.get(option) == lab_group.get(option), option
        assert [p.shape for p in group["params"]] == [p.shape for p in lab_group["params"]]

    steps = math.ceil(usable_batch_size(len(splits.train), tc.batch_size) / tc.batch_size)
    assert len(ns["train_loader"]) == steps
    lab_factor = make_scheduler(lab_optimizer, tc, steps).lr_lambdas[0]
    total = tc.epochs * steps
    assert [ns["one_cycle"](s) for s in range(total + 1)] == [
        lab_factor(s) for s in range(total + 1)
    ]

    define(ns, config, TRAINING, "epoch_image_size")
    ns["PROGRESSIVE_FROM"] = tc.progressive_from
    sizes = [ns["epoch_image_size"](epoch, 32) for epoch in range(1, tc.epochs + 1)]
    assert sizes == [epoch_image_size(tc, epoch, 32) for epoch in range(1, tc.epochs + 1)]

    image = Image.fromarray(ns["test_images"][0])
    reference = ReferenceAugment(config.augment, dataset.mean, dataset.std, train=False)(image)
    assert torch.allclose(ns["test_transform"](image), reference, atol=1e-6)


def test_every_transform_follows_its_setting(tiny_folder, monkeypatch):
    monkeypatch.delenv("CIFAR_DATA", raising=False)
    config = preset_config("cpu-fast", str(tiny_folder)).with_overrides(
        augment={
            "resize": 48,
            "translate": 4,
            "hflip_p": 0.3,
            "rotation": 10.0,
            "rotation_fill": 128,
            "brightness": 0.2,
            "contrast": 0.3,
            "saturation": 0.4,
            "erase_p": 0.5,
            "normalize": False,
        }
    )
    ns = run_until(config, "Data loaders")
    crop, resize, flip, rotation, bright, contrast, saturation, _, erase = ns[
        "train_transform"
    ].transforms
    assert crop.size == (32, 32) and crop.padding == 4
    assert resize.size == (48, 48) and flip.p == 0.3
    assert rotation.degrees == [-10.0, 10.0] and rotation.fill == 128
    assert bright.brightness == (0.8, 1.2) and bright.contrast is None
    assert contrast.contrast == (0.7, 1.3) and saturation.saturation == (0.6, 1.4)
    assert erase.p == 0.5 and erase.value == 0
    assert [type(t).__name__ for t in ns["test_transform"].transforms] == ["Resize", "ToTensor"]
    image = Image.fromarray(ns["train_images"][0])
    assert ns["train_transform"](image).shape == (3, 48, 48)


# --- the notebook ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_notebook_has_a_heading_per_section_and_runs(tiny_recipe, tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR_DATA", raising=False)
    notebook = render_notebook(tiny_recipe)
    nbformat.validate(notebook)
    sections = script_sections(tiny_recipe)
    assert len(notebook.cells) == 1 + 2 * len(sections)
    assert notebook.cells[0].cell_type == "markdown"
    for number, section in enumerate(sections, 1):
        heading, code = notebook.cells[2 * number - 1], notebook.cells[2 * number]
        assert heading.cell_type == "markdown" and code.cell_type == "code"
        assert heading.source.startswith(f"## {number}. {section.title}\n")
        assert code.source == section.code
    stored = nbformat.reads(nbformat.writes(notebook), as_version=4)
    nbformat.validate(stored)

    work = tmp_path / "work"
    work.mkdir()
    client = NotebookClient(
        stored, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute()
    output = "".join(
        out.get("text", "")
        for cell in stored.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert list(epoch_accuracies(output)) == [1, 2]
    assert (work / "best.pt").is_file()


# --- cifar-lab code -------------------------------------------------------------------------------


def test_cli_code_writes_the_script_of_a_run(tiny_run, tiny_recipe, tmp_path, capsys):
    out = tmp_path / "new folder" / "train.py"
    assert main(["code", str(tiny_run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text() == render_script(tiny_recipe)
    assert os.listdir(out.parent) == ["train.py"]  # written atomically: no temp file left


def test_cli_code_writes_a_notebook_of_a_run_by_name(tiny_run, tiny_recipe, tmp_path):
    out = tmp_path / "train.ipynb"
    argv = ["code", "tiny", "--runs-dir", str(tiny_run.parent), "--out", str(out), "--notebook"]
    assert main(argv) == 0
    notebook = nbformat.read(out, as_version=4)
    nbformat.validate(notebook)
    assert notebook == render_notebook(tiny_recipe)  # the same file every time


def test_cli_code_of_a_preset_and_of_a_run_on_other_data(tiny_run, tmp_path):
    out = tmp_path / "notebook.py"
    assert main(["code", "--preset", "notebook", "--data", "/srv/cifar", "--out", str(out)]) == 0
    assert out.read_text() == render_script(preset_config("notebook", "/srv/cifar"))
    assert main(["code", str(tiny_run), "--data", "/srv/cifar", "--out", str(out)]) == 0
    assert 'DATA = os.environ.get("CIFAR_DATA", "/srv/cifar")' in out.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "no checkpoint or run named 'nope'"),
        ([], "give a run (a run folder or name) or --preset NAME"),
        (["RUN", "--preset", "notebook"], "give a run (a run folder or name) or --preset NAME"),
        (["NO_CONFIG"], "has no config.json: it is not a run folder"),
        (["RUN", "--data", ""], "data source is empty"),
    ],
)
def test_cli_code_refuses_bad_input_in_one_line(argv, message, tiny_run, tmp_path, capsys):
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "best.pt").write_bytes(b"")
    names = {"RUN": str(tiny_run), "NO_CONFIG": str(tmp_path / "bare")}
    out = tmp_path / "train.py"
    code = main(["code", *(names.get(a, a) for a in argv), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("cifar-lab code: error: ") and message in err
    assert err.count("\n") == 1 and not out.exists()


def test_cli_code_cannot_write_a_folder(tiny_run, tmp_path, capsys):
    assert main(["code", str(tiny_run), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cifar-lab code: error: cannot write {tmp_path}")
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--preset", "notebook"], ["--preset", "nope", "--out", "x.py"]])
def test_cli_code_usage_mistakes_exit_2_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["code", *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "error:" in err


# --- the script against the lab on the real data --------------------------------------------------


@pytest.mark.slow
@pytest.mark.real_data
def test_the_scripts_accuracy_is_the_labs(real_data_path, tmp_path, capsys):
    """cpu-1min's settings for two epochs: the script's epoch-2 validation accuracy is within
    3 points of the lab's own run (the same split and initial weights; other random draws)."""
    runs_dir = tmp_path / "runs"
    argv = ["train", "--data", str(real_data_path), "--preset", "cpu-1min", "--epochs", "2"]
    argv += ["--precision", "fp32", "--runs-dir", str(runs_dir), "--name", "lab"]
    start = time.perf_counter()
    assert main(argv) == 0
    lab_seconds = time.perf_counter() - start
    lab_acc = float(pd.read_csv(runs_dir / "lab" / runs.HISTORY)["val_acc"].iloc[1])
    config = RunConfig.from_dict(runs.read_config(runs_dir / "lab"))
    start = time.perf_counter()
    output, _ = run_script(render_script(config), tmp_path)
    script_seconds = time.perf_counter() - start
    script_acc = epoch_accuracies(output)[2]
    with capsys.disabled():
        print(
            f"\nepoch-2 validation accuracy: lab {lab_acc:.4f} in {lab_seconds:.0f} s, "
            f"script {script_acc:.4f} in {script_seconds:.0f} s"
        )
    assert abs(script_acc - lab_acc) <= 0.03
