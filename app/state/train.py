"""The Train page's state: the user's settings (a preset's, changed control by control), the run
name, one run or a sweep and the sweep's values, the augmentation handed over from the
Augmentations page, the last refused Start, the learning-rate finder's result and the
model-anatomy input size.

The settings are kept by setting key (``lab.config.SETTINGS``), as the controls show them
(``app.settings.control_value``): a preset fills them from ``RunConfig.settings()`` and
``run_config`` turns them back into a run with ``RunConfig.with_settings``. No setting is named
here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from app.settings import config_value, control_value
from app.state.store import Store
from lab.config import CIFAR10_SOURCE, SETTINGS, AugmentConfig, RunConfig
from lab.errors import ConfigError, LabError
from lab.presets import preset_config
from lab.sweep import APP_SWEPT, format_values, parse_values, values_around

DEFAULT_PRESET = "cpu-fast"
RUN, SWEEP = "run", "sweep"
# The preset the sweep mode offers: a sweep trains many runs, so each should cost a minute or two.
SWEEP_PRESET = "cpu-1min"


def preset_values(preset: str) -> dict:
    """Every setting of ``preset``, as its control shows it."""
    settings = preset_config(preset, CIFAR10_SOURCE).settings()
    return {key: control_value(SETTINGS[key], value) for key, value in settings.items()}


def sweep_field(key: str) -> str:
    """The field that holds the sweep mode's values of setting ``key``."""
    return f"sweep_{key}"


def sweep_offer(preset: str) -> dict[str, str]:
    """The sweep mode's values for ``preset``, by field: for each setting of
    ``lab.sweep.APP_SWEPT``, ``values_around`` the preset's own, as its box shows them."""
    config = preset_config(preset, CIFAR10_SOURCE)
    return {sweep_field(key): format_values(values_around(config, key)) for key in APP_SWEPT}


FORM = Store(
    "train",
    lambda: {
        "preset": DEFAULT_PRESET,
        "name": "",
        "mode": RUN,
        **preset_values(DEFAULT_PRESET),
        # The sweep mode's values of each setting of lab.sweep.APP_SWEPT, as typed:
        # comma-separated; and what the boxes were last filled with, so that a value the user
        # typed is told apart and kept when the preset changes.
        **sweep_offer(DEFAULT_PRESET),
        "sweep_offered": sweep_offer(DEFAULT_PRESET),
        "augment": None,
        "start_error": None,  # (the error, the form's values it was about)
        "lr_finder": None,  # (what it was run for, its result)
        "anatomy_size": 0,  # 0 = the model's own input size
    },
)


def apply_preset() -> None:
    """The preset box's callback: every setting to the chosen preset's value, and each sweep
    box that still holds what it was filled with to the values around the preset's own (a
    box the user typed in keeps its values)."""
    FORM.update(preset_values(FORM["preset"]))
    offer, offered = sweep_offer(FORM["preset"]), FORM["sweep_offered"]
    FORM.update({field: text for field, text in offer.items() if FORM[field] == offered[field]})
    FORM.set("sweep_offered", offer)


def use_sweep_preset() -> None:
    """The sweep mode's offer: the one-minute preset, and every sweep box to the values
    around its own, the ones the user typed in too (they were made for another preset)."""
    FORM.set("preset", SWEEP_PRESET)
    FORM.update(FORM["sweep_offered"])
    apply_preset()


def run_config(keys: Sequence[str], source: str) -> RunConfig:
    """The run the form describes: the preset, the handed-over augmentation if any, and the
    user's values of the settings ``keys`` that apply to the chosen model; raises
    ``ConfigError`` (naming the setting) for a combination the rules refuse."""
    config = preset_config(FORM["preset"], source)
    augment = FORM["augment"]
    if augment is not None:
        config = replace(config, augment=augment)
    model = FORM["model"]
    chosen = {
        key: config_value(SETTINGS[key], FORM[key])
        for key in keys
        if SETTINGS[key].applies_to(model)
    }
    return config.with_settings(chosen)


def sweep_grid(base: RunConfig) -> dict[str, tuple]:
    """The values the sweep mode's boxes hold, by setting key, each checked on ``base``; raises
    ``ConfigError`` naming the setting of a value that cannot be parsed or is refused."""
    grid = {}
    for key in APP_SWEPT:
        setting = SETTINGS[key]
        try:
            kind = {"int": int, "float": float}[setting.kind]
            values = parse_values(FORM[sweep_field(key)], kind)
            for value in values:
                base.with_settings({key: value})
        except ConfigError as error:
            raise ConfigError(str(error), key) from error
        grid[key] = values
    return grid


def planned(keys: Sequence[str], source: str) -> tuple[RunConfig, dict[str, tuple] | None]:
    """What Start would train: the run the form describes and, in the sweep mode, the values
    of each swept setting (None for one run); raises ``ConfigError`` naming the setting."""
    if FORM["mode"] == RUN:
        return run_config(keys, source), None
    base = run_config([key for key in keys if key not in APP_SWEPT], source)
    return base, sweep_grid(base)


def run_name() -> str | None:
    return FORM["name"].strip() or None


def augment() -> AugmentConfig | None:
    """The augmentation made on the Augmentations page for training, if any."""
    return FORM["augment"]


def set_augment(config: AugmentConfig | None) -> None:
    FORM.set("augment", config)


def _form_values() -> dict:
    fields = ("preset", "name", "mode", "augment", *SETTINGS, *map(sweep_field, APP_SWEPT))
    return {key: FORM[key] for key in fields}


def set_start_error(error: LabError | None) -> None:
    """Remember why Start was refused, for the settings the form holds now."""
    FORM.set("start_error", None if error is None else (error, _form_values()))


def start_error() -> LabError | None:
    """Why the last Start was refused, while the form still holds what was refused: any change
    clears it."""
    stored = FORM["start_error"]
    return stored[0] if stored and stored[1] == _form_values() else None


def lr_finder_result(for_what: tuple) -> object | None:
    """The learning-rate finder's last result, if it was run for ``for_what`` (the settings
    it depends on), else None."""
    stored = FORM["lr_finder"]
    return stored[1] if stored and stored[0] == for_what else None


def set_lr_finder_result(for_what: tuple, result: object) -> None:
    FORM.set("lr_finder", (for_what, result))


def use_learning_rate(lr: float) -> None:
    """Button callback: the Learning rate slider to ``lr`` (one of its stops)."""
    FORM.set("lr", lr)
