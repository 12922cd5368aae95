"""The settings declaration: one Spec per setting validates the configs, builds the CLI's
flags, and applies a user's choices with the rules that tie settings together."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

import numpy as np
import pytest

from lab import cli
from lab.config import (
    MODEL_RESIZE,
    SECTIONS,
    SETTINGS,
    RunConfig,
    Setting,
    TrainConfig,
    declaration,
    setting,
    speed_key,
    validate,
)
from lab.errors import ConfigError
from lab.presets import (
    PRESET_NAMES,
    PRESETS,
    cpu_fast_config,
    notebook_config,
    preset_config,
)


def train_flags() -> dict[str, argparse.Action]:
    parser = cli.build_parser()
    train = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ).choices["train"]
    return {action.dest: action for action in train._actions}


def test_every_user_setting_of_every_section_is_declared_once():
    declared = [
        (section, item.name)
        for section, cls in SECTIONS.items()
        for item in fields(cls)
        if item.metadata["spec"].user
    ]
    assert sorted(declared) == sorted((s.section, s.name) for s in SETTINGS.values())
    assert len(SETTINGS) == len(declared)  # keys are unique across sections
    for declared_setting in SETTINGS.values():
        assert declared_setting.spec.label and declared_setting.spec.help


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_the_cli_has_a_flag_for_every_setting_with_its_declared_help(key):
    flag = train_flags()[key]
    declared = SETTINGS[key]
    assert flag.option_strings[0] == "--" + key.replace("_", "-")
    assert flag.help.replace("%%", "%") == declared.describe()
    if declared.spec.choices:
        assert tuple(flag.choices) == declared.spec.choices


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", 0, "epochs must be between 1 and 1000 epochs, got 0"),
        ("lr", 0.0, "lr must be > 0 and at most 10, got 0"),
        ("patience", -1, "patience must be >= 0, got -1"),
        ("min_delta", float("inf"), "min_delta must be a finite number >= 0, got inf"),
        ("dropout", 1.0, "dropout must be >= 0 and below 1, got 1"),
        ("monitor", "accuracy", "unknown monitor 'accuracy': choose one of val_acc, val_loss"),
        ("model", "resnet", "unknown model 'resnet': choose one of alexnet, alexnet_cifar"),
        ("rotation", 200.0, "rotation must be between 0 and 180 degrees, got 200"),
        ("eval_test", 1, "eval_test must be bool, got 1"),
    ],
)
def test_a_bad_value_is_refused_naming_its_setting_and_the_valid_range(key, value, message):
    with pytest.raises(ConfigError) as error:
        cpu_fast_config("tiny").with_settings({key: value})
    assert str(error.value).startswith(message)
    assert error.value.setting == key


def test_a_new_setting_is_one_field_and_validates_from_its_spec():
    @dataclass(frozen=True)
    class Section:
        warmup: int = setting(
            5, label="Warm-up", help="Epochs of warm-up.", unit="epochs", low=0, high=50
        )

        def __post_init__(self) -> None:
            validate(self, "section")

    assert Section().warmup == 5
    with pytest.raises(ConfigError, match="warmup must be between 0 and 50 epochs, got 99"):
        Section(warmup=99)


def test_choosing_a_model_sets_the_size_it_needs_and_resets_what_does_not_apply():
    fast = cpu_fast_config("tiny")
    assert fast.model.width == 0.5 and fast.augment.resize is None
    notebook_like = fast.with_settings({"model": "alexnet"})
    assert notebook_like.augment.resize == MODEL_RESIZE["alexnet"] == 227
    assert notebook_like.model.width == 1.0
    back = notebook_config("tiny").with_settings({"model": "alexnet_cifar", "width": 0.25})
    assert back.augment.resize is None and back.model.width == 0.25


def test_a_setting_for_another_model_is_refused_not_ignored():
    with pytest.raises(
        ConfigError, match="width applies only to alexnet_cifar and alexnet_whitened"
    ) as error:
        notebook_config("tiny").with_settings({"width": 0.5})
    assert error.value.setting == "width"
    # Its default says nothing, so a form that shows every control may pass it.
    assert notebook_config("tiny").with_settings({"width": 1.0}).model.width == 1.0


def test_the_seed_drives_the_data_split_and_training():
    config = cpu_fast_config("tiny").with_settings({"seed": 7})
    assert config.train.seed == config.data.seed == 7


def test_monitoring_validation_holds_out_a_split_unless_one_is_given():
    notebook = notebook_config("tiny")
    assert notebook.data.val_fraction == 0
    assert notebook.with_settings({"monitor": "val_acc"}).data.val_fraction == 0.1
    with pytest.raises(ConfigError, match="needs a validation split") as error:
        notebook.with_settings({"monitor": "val_acc", "val_fraction": 0.0})
    assert error.value.setting == "val_fraction"


def test_settings_round_trip_through_a_config():
    config = cpu_fast_config("tiny")
    values = config.settings()
    assert values["model"] == "alexnet_cifar" and values["lr"] == config.train.lr
    assert config.with_settings(values) == config
    assert RunConfig.from_dict(config.to_dict()) == config


def test_unknown_settings_are_refused_with_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown settings \\['learning_rate'\\]: valid are"):
        cpu_fast_config("tiny").with_settings({"learning_rate": 1e-3})


def test_numbers_become_plain_python_floats():
    config = TrainConfig(lr=np.float32(0.5))
    assert type(config.lr) is float and config.lr == 0.5


@pytest.mark.parametrize(
    ("key", "value", "snapped"),
    [("lr", 1.6e-3, 1.5e-3), ("lr", 2.6e-3, 3e-3), ("lr", 1e-9, 1e-5), ("batch_size", 100, 128)],
)
def test_a_value_snaps_to_the_nearest_control_stop(key, value, snapped):
    assert SETTINGS[key].nearest_option(value) == pytest.approx(snapped)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_preset_value_is_a_stop_of_its_control(preset):
    """The app's controls offer the preset's own values: a slider that snapped cpu-5min's
    learning rate 0.75 to 0.7 would train another run than the CLI's."""
    for key, value in preset_config(preset, "/data").settings().items():
        options = SETTINGS[key].spec.options
        if options and value is not None:
            assert value in options, (key, value, options)


@pytest.mark.parametrize(
    ("key", "offered", "tooltip"),
    [
        (
            "epochs",
            (1, 100),
            "(the app offers 1 to 100 epochs; the command line accepts between 1 and 1000 epochs)",
        ),
        (
            "batch_size",
            (8, 1024),
            "(the app offers 8 to 1024 images; the command line accepts between 1 and 65536 "
            "images)",
        ),
        (
            "width",
            (0.125, 2.0),
            "(the app offers 0.125 to 2; the command line accepts between 0.125 and 4; for "
            "alexnet_cifar, alexnet_whitened only)",
        ),
        (
            "patience",
            (0, 30),
            "(the app offers 0 to 30 epochs; the command line accepts >= 0 epochs)",
        ),
        ("subset", (0, None), "(>= 1 images)"),  # the app's 0 is "all", no narrower range
        ("val_fraction", (0.0, 0.5), "(between 0 and 0.5)"),  # the stops span the valid range
        ("monitor", None, "(one of val_acc, val_loss, test_acc, test_loss)"),
    ],
)
def test_the_app_says_the_range_its_control_offers_beside_the_valid_one(key, offered, tooltip):
    declared = SETTINGS[key]
    assert declared.control_range() == offered
    assert declared.describe(control=True) == f"{declared.spec.help} {tooltip}"
    assert "the app offers" not in declared.describe()  # the CLI's --help: the valid range


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_declares_what_it_is_for_in_one_line(name):
    preset = PRESETS[name]
    assert preset.description and "\n" not in preset.description
    assert preset.build("/data") == preset_config(name, "/data")
    assert preset_config(name, "/data").preset == name


@pytest.mark.parametrize(
    ("section", "name", "value", "same_speed"),
    [
        ("train", "batch_size", 512, False),
        ("train", "precision", "bf16", False),
        ("train", "pipeline", "reference", False),
        ("train", "progressive_from", 16, False),
        ("model", "width", 0.25, False),
        ("model", "name", "alexnet_whitened", False),
        ("augment", "resize", 64, False),
        ("train", "lr", 0.1, True),
        ("train", "epochs", 3, True),
        ("train", "seed", 7, True),
        ("data", "subset", 100, True),
    ],
)
def test_runs_time_one_another_when_every_setting_declared_to_change_speed_agrees(
    section, name, value, same_speed
):
    stored = cpu_fast_config("tiny").to_dict()
    changed = cpu_fast_config("tiny").with_overrides(**{section: {name: value}}).to_dict()
    assert (speed_key(changed) == speed_key(stored)) is same_speed


def test_a_speed_setting_missing_from_an_older_run_or_not_for_its_model_has_its_default():
    stored = notebook_config("tiny").to_dict()
    older = {**stored, "train": {k: v for k, v in stored["train"].items() if k != "pipeline"}}
    assert speed_key(older) == speed_key(stored)
    assert ("width", 1.0) in speed_key({**stored, "model": {"name": "alexnet", "width": 0.5}})


def every_declared_setting() -> list[Setting]:
    """The declaration of every field of every section, user-facing or not."""
    return [
        declaration(section, item.name) for section, cls in SECTIONS.items() for item in fields(cls)
    ]


def section_with(declared: Setting, value: object) -> object:
    """The section of ``declared`` built with ``value``, for a model the setting applies to."""
    applies = declared.section == "model" and declared.spec.applies_to
    model = {"name": declared.spec.applies_to[0]} if applies else {}
    return SECTIONS[declared.section](**model, **{declared.name: value})


@pytest.mark.parametrize(
    "declared",
    [d for d in every_declared_setting() if d.control_range() is not None],
    ids=lambda declared: f"{declared.section}.{declared.name}",
)
def test_every_control_offers_only_values_the_validation_accepts(declared):
    """A control's range lies within the valid range, and its ends are accepted: a dropout
    slider up to 1.0 offered a value the declaration refuses."""
    spec = declared.spec
    low, high = declared.control_range()
    if spec.low is not None and not declared.optional:  # an optional number's 0 stands for none
        assert low > spec.low if spec.low_open else low >= spec.low
    if spec.high is not None:
        assert high is not None and (high < spec.high if spec.high_open else high <= spec.high)
    ends = [high] if declared.optional else [low, high]
    for value in [*ends, *spec.options]:
        if value is not None and not (declared.optional and value == 0):
            section_with(declared, value)  # raises ConfigError for a refused value


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("progressive_from", 0, "off"),
        ("progressive_from", 16, "16 px"),
        ("subset", None, "all"),
        ("subset", 500, "500 images"),
        ("val_fraction", 0.0, "none"),
        ("val_fraction", 0.04, "0.04"),
        ("hflip_p", 0.0, "off"),
        ("lr", 0.75, "0.75"),
        ("epochs", 3, "3 epochs"),
        ("patience", 0, "0 epochs"),  # 0 is a patience, not none
        ("model", "alexnet", "alexnet"),
    ],
)
def test_a_value_is_shown_in_its_declared_words(key, value, words):
    assert SETTINGS[key].in_words(value) == words


def test_a_control_stop_is_shown_without_its_unit():
    assert SETTINGS["progressive_from"].in_words(16, unit=False) == "16"
    assert SETTINGS["progressive_from"].in_words(0, unit=False) == "off"


@pytest.mark.parametrize(
    "declared",
    [d for d in every_declared_setting() if d.spec.transform or d.optional],
    ids=lambda declared: f"{declared.section}.{declared.name}",
)
def test_every_setting_that_0_or_none_switches_off_declares_its_word(declared):
    """A transform's 0 (or None) switches it off, and an optional number's None is none of it
    (all the images): each says so in words, not as "0 px"."""
    assert declared.spec.off
    assert declared.in_words(None if declared.optional else 0) == declared.spec.off
