"""Bad settings: every config value is validated where it is built, the CLI answers a bad flag
with one line naming the valid range and starts nothing, and run names cannot leave the runs
folder."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import asdict, fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import cli, runs
from lab.config import (
    MONITORS,
    PIPELINES,
    SCHEDULES,
    SECTIONS,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from lab.errors import ConfigError
from lab.presets import PRESET_NAMES, cpu_fast_config, preset_config

CIFAR_LAB = os.path.join(os.path.dirname(sys.executable), "cifar-lab")

# --- the CLI ----------------------------------------------------------------------------------

BAD_FLAGS = [
    (["--lr", "-1"], "lr must be > 0 and at most 10, got -1"),
    (["--lr", "nan"], "lr must be > 0 and at most 10, got nan"),
    (["--lr", "11"], "lr must be > 0 and at most 10, got 11"),
    (["--patience", "-1"], "patience must be >= 0, got -1"),
    (["--batch-size", "0"], "batch_size must be between 1 and 65536 images, got 0"),
    (["--batch-size", "1000"], "larger than the training split (65 images): choose 1 to 65"),
    (["--val-fraction", "2"], "val_fraction must be between 0 and 0.5, got 2"),
    (["--val-fraction", "-0.1"], "val_fraction must be between 0 and 0.5, got -0.1"),
    (["--epochs", "0"], "epochs must be between 1 and 1000 epochs, got 0"),
    (["--subset", "0"], "subset must be >= 1, got 0"),
    (["--subset", "4"], "subset must be at least 6 (two images per class), got 4"),
    (["--width", "100"], "width must be between 0.125 and 4, got 100"),
    (["--seed", "-1"], "seed must be between 0 and 4294967294, got -1"),
    (["--min-delta", "nan"], "min_delta must be a finite number >= 0, got nan"),
    (["--monitor", "val_acc", "--val-fraction", "0"], "needs a validation split"),
]
USAGE_ERRORS = [
    (
        ["--preset", "nope"],
        "invalid choice: 'nope' (choose from 'notebook', 'cpu-fast', 'cpu-5min', 'cpu-1min')",
    ),
    (
        ["--model", "resnet"],
        "invalid choice: 'resnet' (choose from 'alexnet', 'alexnet_cifar', 'alexnet_whitened')",
    ),
    (["--monitor", "accuracy"], "invalid choice: 'accuracy'"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--epochs", "2.5"], "argument --epochs: invalid int value: '2.5'"),
]


def one_error_line(err: str) -> str:
    """The only line that reports an error; progress bars may share stderr."""
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert "Traceback" not in err
    return errors[0]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS)
def test_bad_setting_exits_2_with_one_line_and_starts_nothing(
    flags, message, tiny_folder, tmp_path, capsys
):
    argv = ["train", "--data", str(tiny_folder), "--runs-dir", str(tmp_path / "runs"), *flags]
    assert cli.main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("cifar-lab train: error: ") and message in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(("flags", "message"), USAGE_ERRORS)
def test_unknown_choice_exits_2_with_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["train", "--runs-dir", str(tmp_path / "runs"), *flags])
    assert exited.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("cifar-lab train: error: ") and message in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_installed_cli_prints_exactly_one_line(tiny_folder, tmp_path):
    """The real script, usage text and all: argparse's own errors are one line too."""
    flags = ["--data", str(tiny_folder), "--runs-dir", str(tmp_path), "--preset", "nope"]
    done = subprocess.run([CIFAR_LAB, "train", *flags], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "invalid choice: 'nope'" in done.stderr
    assert list(tmp_path.iterdir()) == []


# --- property: any value builds a valid config or raises ConfigError ---------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-3, 300),
    st.floats(),
    st.floats(0, 2),
    st.text(max_size=6),
    st.sampled_from(
        ["cifar10", "alexnet", "alexnet_cifar", "auto", "bf16", "fp32"]
        + list(MONITORS + SCHEDULES + PIPELINES + PRESET_NAMES)
    ),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2), st.dictionaries(st.text(), SCALARS))
CLASSES = [DataConfig, AugmentConfig, ModelConfig, TrainConfig]


def check_valid(config) -> None:
    """What a config that was built promises: plain JSON values, finite numbers, a round trip."""
    values = asdict(config)
    json.dumps(values, allow_nan=False)
    for item in fields(config):
        value = getattr(config, item.name)
        assert value is None or type(value) in (int, float, str, bool), (item.name, value)
        assert not isinstance(value, float) or math.isfinite(value), item.name
    assert type(config)(**values) == config


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(data=st.data(), cls=st.sampled_from(CLASSES))
def test_any_values_build_a_valid_section_or_raise_config_error(data, cls):
    names = [f.name for f in fields(cls)]
    kwargs = data.draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names)))
    try:
        config = cls(**kwargs)
    except ConfigError as error:
        assert str(error)
    else:
        check_valid(config)


@settings(max_examples=300, deadline=None)
@given(section=st.sampled_from(sorted(SECTIONS)), name=st.text(max_size=20), value=VALUES)
def test_any_override_builds_a_valid_run_config_or_raises_config_error(section, name, value):
    base = cpu_fast_config("x")
    key = name if name else next(iter(f.name for f in fields(SECTIONS[section])))
    try:
        config = base.with_overrides(**{section: {key: value}})
    except ConfigError:
        return
    for part in SECTIONS:
        check_valid(getattr(config, part))
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


JSON = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_stored_config_loads_or_raises_config_error(data):
    """config.json and checkpoints: a whole document, or a valid one with one section broken."""
    valid = cpu_fast_config("x").to_dict()
    section = data.draw(st.sampled_from(sorted(SECTIONS)))
    document = data.draw(
        st.one_of(
            JSON,
            st.builds(lambda broken: {**valid, section: broken}, JSON),
            st.builds(
                lambda key, value: {**valid, section: {**valid[section], key: value}},
                st.sampled_from([f.name for f in fields(SECTIONS[section])]),
                VALUES,
            ),
        )
    )
    try:
        config = RunConfig.from_dict(document)
    except ConfigError:
        return
    assert RunConfig.from_dict(config.to_dict()) == config


@given(name=VALUES)
def test_any_preset_name_is_a_preset_or_a_config_error(name):
    try:
        config = preset_config(name, "x")
    except ConfigError as error:
        assert "choose one of notebook, cpu-fast, cpu-5min, cpu-1min" in str(error)
    else:
        assert config.preset == name


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (TrainConfig, {"min_delta": float("nan")}, "min_delta must be a finite number"),
        (TrainConfig, {"min_delta": float("inf")}, "min_delta must be a finite number"),
        (TrainConfig, {"lr": 10**400}, "lr is too large"),
        (TrainConfig, {"epochs": "12"}, "epochs must be int, got '12'"),
        (TrainConfig, {"epochs": True}, "epochs must be int, got True"),
        (TrainConfig, {"tta_flip": "yes"}, "tta_flip must be bool"),
        (TrainConfig, {"seed": 2**40}, "seed must be between 0 and"),
        (DataConfig, {"source": "x", "seed": -1}, "seed must be between 0 and"),
        (DataConfig, {"source": "a\0b"}, "NUL character"),
        (DataConfig, {"source": 5}, "source must be str, got 5"),
        (AugmentConfig, {"resize": 32.5}, "resize must be int or None"),
        (ModelConfig, {"name": None}, "model must be str"),
    ],
)
def test_values_of_the_wrong_kind_are_refused_by_name(cls, kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        cls(**kwargs)


def test_numbers_become_plain_python_numbers():
    config = TrainConfig(lr=np.float32(0.5), epochs=np.int64(3), weight_decay=0)
    assert type(config.lr) is float and type(config.epochs) is int
    assert type(config.weight_decay) is float
    assert json.loads(json.dumps(asdict(config)))["epochs"] == 3


# --- run names -----------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "...",
    "a/../../b",
    "..\\..\\windows\\system32",
    "name\0evil",
    "~root",
    "$(touch pwned)",
    "run; rm -rf ~",
    "%2e%2e%2f",
    " .hidden",
    "-rf",
    "\n",
    "ünïcødé",
    "a" * 1000,
]
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def assert_stays_inside(name: str, root) -> None:
    runs_dir = root / "runs"
    runs_dir.mkdir(exist_ok=True)
    before = {p for p in root.rglob("*")}
    try:
        safe = runs.sanitize_name(name)
    except ConfigError as error:
        assert "no usable characters" in str(error)
        return
    assert SAFE_NAME.fullmatch(safe) and ".." not in safe and len(safe) <= runs.MAX_NAME
    run_dir = runs.create_run_dir(runs_dir, name)
    assert run_dir.parent == runs_dir and run_dir.resolve().parent == runs_dir.resolve()
    assert {p for p in root.rglob("*")} - before == {run_dir}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_run_names_stay_inside_the_runs_folder(name, tmp_path):
    assert_stays_inside(name, tmp_path)


@settings(max_examples=200, deadline=None)
@given(name=st.text())
def test_any_run_name_stays_inside_the_runs_folder(name, tmp_path_factory):
    assert_stays_inside(name, tmp_path_factory.mktemp("names"))


def test_a_planted_link_cannot_lead_a_run_outside(tmp_path, tiny_folder, capsys):
    outside, runs_dir = tmp_path / "outside", tmp_path / "runs"
    outside.mkdir()
    runs_dir.mkdir()
    (outside / runs.LAST).write_bytes(b"")  # looks resumable
    (runs_dir / "evil").symlink_to(outside, target_is_directory=True)
    assert runs.create_run_dir(runs_dir, "evil") == runs_dir / "evil-2"
    with pytest.raises(ConfigError, match="leads outside"):
        runs.existing_run_dir(runs_dir, "evil")
    argv = ["train", "--resume", "--name", "evil", "--runs-dir", str(runs_dir)]
    assert cli.main([*argv, "--data", str(tiny_folder)]) == 2
    assert "leads outside" in one_error_line(capsys.readouterr().err)
    assert [p.name for p in outside.iterdir()] == [runs.LAST]
