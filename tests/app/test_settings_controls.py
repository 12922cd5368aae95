"""Controls come from the settings declaration: the kind, range, label and help of each, and
the values they hold, with nothing named per setting in the app."""

from __future__ import annotations

from dataclasses import fields

import pytest
from app_helpers import keyed_widget
from streamlit.testing.v1 import AppTest

from app.settings import config_value, control_value
from lab.config import (
    LR_CHOICES,
    MAX_SEED,
    SETTINGS,
    AugmentConfig,
    Setting,
    Spec,
    declaration,
)


def every_control() -> None:
    """The control of every setting the app shows (the user settings, and every transform
    setting of the Augmentations page, the resize too), bound to one store, and one setting
    lab.config does not have (as a newly declared one would be)."""
    from dataclasses import fields

    import streamlit as st

    from app.settings import control
    from app.state.store import Store
    from lab.config import SETTINGS, AugmentConfig, RunConfig, Setting, Spec, declaration

    augment = [declaration("augment", item.name) for item in fields(AugmentConfig)]
    shown = [*SETTINGS.values(), *(setting for setting in augment if not setting.spec.user)]
    store = Store("all", lambda: RunConfig().settings() | {"resize": 227, "warmup": 2})
    for setting in shown:
        control(st, setting, store)
    new = Setting("warmup", "train", "warmup", "int", 2, Spec("Warm-up", "Epochs.", low=0, high=5))
    control(st, new, store)


@pytest.fixture(scope="module")
def controls() -> AppTest:
    at = AppTest.from_function(every_control).run()
    assert not at.exception, at.exception[0].message
    return at


@pytest.mark.parametrize(
    ("key", "kind", "stops"),
    [
        ("model", "selectbox", ("alexnet", "alexnet_cifar", "alexnet_whitened")),
        ("monitor", "selectbox", ("val_acc", "val_loss", "test_acc", "test_loss")),
        ("tta_flip", "toggle", None),
        ("lr", "select_slider", tuple(f"{lr:g}" for lr in sorted(set(LR_CHOICES)))),
        ("width", "select_slider", ("0.125", "0.25", "0.5", "0.75", "1", "2")),
        ("epochs", "slider", (1, 100)),  # up to the control's 100, not the valid 1000
        ("patience", "slider", (0, 30)),
        ("rotation", "slider", (0.0, 45.0)),
        ("seed", "number_input", (0, MAX_SEED)),  # too wide for a slider
        ("subset", "number_input", (0, None)),  # 0 stands for "all"
        ("min_delta", "number_input", (0.0, 1.0)),  # open-ended: a box, up to its control_max
    ],
)
def test_the_declaration_decides_the_control(controls, key, kind, stops):
    setting = SETTINGS[key]
    control = keyed_widget(controls, f"all_{key}")
    assert type(control).__name__.lower().replace("_", "") == kind.replace("_", "")
    assert control.label == setting.spec.label
    assert control.help == setting.describe(control=True)
    if kind in ("selectbox", "select_slider"):
        assert tuple(control.options) == stops
    elif kind in ("slider", "number_input"):
        assert (control.min, control.max) == stops


def test_a_stop_that_switches_a_setting_off_reads_off(controls):
    progressive = keyed_widget(controls, "all_progressive_from")
    assert list(progressive.options[:2]) == ["off", "12"]  # not "0", which is no size
    assert keyed_widget(controls, "all_val_fraction").options[0] == "none"


def test_a_newly_declared_setting_gets_its_control(controls):
    slider = controls.slider(key="all_warmup")
    assert (slider.label, slider.min, slider.max, slider.value) == ("Warm-up", 0, 5, 2)
    assert slider.help == "Epochs. (between 0 and 5)"


def shown_settings() -> list[Setting]:
    augment = [declaration("augment", item.name) for item in fields(AugmentConfig)]
    return [*SETTINGS.values(), *(setting for setting in augment if not setting.spec.user)]


@pytest.mark.parametrize("setting", shown_settings(), ids=lambda setting: setting.key)
def test_every_control_shows_the_declared_label_range_and_help(controls, setting):
    control = keyed_widget(controls, f"all_{setting.key}")
    spec = setting.spec
    assert control.label == spec.label
    assert control.help.startswith(spec.help)
    if spec.choices:
        assert tuple(control.options) == spec.choices
        return
    if setting.kind not in ("int", "float"):
        return
    if type(control).__name__ == "SelectSlider":  # its stops, in the declared words
        stops = sorted(spec.options)
        assert list(control.options) == [setting.in_words(stop, unit=False) for stop in stops]
        low, high = min(spec.options), max(spec.options)
    else:
        low, high = control.min, control.max
    assert (low, high) == setting.control_range()
    # The help states the range the control offers, and the valid one where that is wider.
    valid = (0 if setting.optional else spec.low, spec.high)
    if (low, high) == valid:
        assert "the app offers" not in control.help and " accepts " not in control.help
    else:
        assert f"the app offers {low:g} to {high:g}" in control.help, control.help
        accepted = control.help.split(" accepts ")[1]
        assert all(f"{bound:g}" in accepted for bound in (spec.low, spec.high) if bound is not None)


def test_values_convert_between_config_and_control():
    subset, lr, resize = SETTINGS["subset"], SETTINGS["lr"], declaration("augment", "resize")
    assert control_value(subset, None) == 0 and config_value(subset, 0) is None
    assert control_value(subset, 500) == 500 == config_value(subset, 500)
    assert control_value(lr, 1.6e-3) == 1.5e-3  # the nearest stop
    assert control_value(resize, 227) == 227 and resize.spec.options[-1] == 227
    made = Setting("warmup", "train", "warmup", "int", 0, Spec("Warm-up", "", low=0))
    assert control_value(made, 3) == 3
