"""The Train page's settings form: the preset, the run name and the settings the page offers,
built from the declaration; one run, or a sweep of several learning rates and patience values;
locked to the active job's settings while it trains; and its check as the user changes it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import streamlit as st

from app import cache
from app.cache import data_store
from app.settings import control, control_value
from app.state import train as train_state
from app.state.store import STORED
from app.state.train import FORM, RUN, SWEEP, sweep_field
from app.widgets import error_box
from lab.batches import check_batch_size
from lab.config import SETTINGS, RunConfig
from lab.data import Dataset
from lab.errors import ConfigError, LabError
from lab.jobs import JobSnapshot
from lab.presets import PRESET_NAMES, PRESETS
from lab.sweep import APP_SWEPT, TRAINED, format_values

# The settings the Train page offers, in the form's order: keys of lab.config.SETTINGS. A
# setting declared in lab.config appears on the page once it is named here.
SHOWN = (
    "model",
    "width",
    "lr",
    "epochs",
    "batch_size",
    "progressive_from",
    "val_fraction",
    "monitor",
    "patience",
    "min_delta",
    "seed",
    "subset",
)
FORM_COLUMNS = 4
PRESET_HELP = " ".join(f"{name}: {preset.description}." for name, preset in PRESETS.items())
PRESET_HELP += " Choosing one sets every setting below."
SWEPT_NAMES = " and ".join(SETTINGS[key].spec.label.lower() for key in APP_SWEPT)
MODES = {RUN: "One run", SWEEP: f"A sweep: several values of {SWEPT_NAMES}"}
# What several values of a swept setting do, beneath its help: each value of a setting of
# lab.sweep.TRAINED trains a run, and the others' (patience) are replayed.
TRAINED_HELP = "Several values, separated by commas: one run trains for each."
REPLAYED_HELP = (
    "Several values, separated by commas: each run trains with the largest, and the smaller "
    "ones are replayed from its history, not trained again."
)


def check(
    keys: Sequence[str], data: str, dataset: Dataset
) -> tuple[RunConfig | None, dict | None, int | None, LabError | None]:
    """What the form describes, checked as Start would check it: (the run's config, the sweep's
    values or None for one run, the training images, None), or (None, None, None, why Start would
    refuse it). A refused Start is reported too, with its config, until the form changes."""
    try:
        config, grid = train_state.planned(keys, data)
        generation = data_store().generation(data)
        train_images = cache.training_split_size(data, generation, config.data, dataset)
        if isinstance(train_images, ConfigError):
            raise train_images
        check_batch_size(config.train.batch_size, train_images)
    except ConfigError as error:
        return None, None, None, error
    return config, grid, train_images, train_state.start_error()


def mode_choice(running: JobSnapshot | None) -> str:
    """One run or a sweep; locked to the kind of the active job while there is one."""
    locked = running is not None
    shown = (SWEEP if running.sweep else RUN) if locked else STORED
    return st.segmented_control(
        "Train",
        tuple(MODES),
        format_func=MODES.get,
        required=True,
        disabled=locked,
        label_visibility="collapsed",
        **FORM.widget("mode", shown),
    )


def settings_form(
    keys: Sequence[str], mode: str, running: JobSnapshot | None, problem: LabError | None
):
    """The preset, the run name and the settings ``keys``, each with its help; in the sweep
    mode the swept settings take several values. A problem that is about one of them is shown
    beneath it. While ``running`` is active the form shows its settings, locked, and the
    user's own come back once it has ended."""
    locked = running is not None
    values = running.config.settings() if locked else {}
    model = values.get("model", FORM["model"])
    rows = math.ceil((len(keys) + 2) / FORM_COLUMNS)
    cells = [cell for _ in range(rows) for cell in st.columns(FORM_COLUMNS)]
    cells[0].selectbox(
        "Preset",
        PRESET_NAMES,
        help=PRESET_HELP,
        disabled=locked,
        **FORM.widget(
            "preset", running.config.preset if locked else STORED, train_state.apply_preset
        ),
    )
    cells[1].text_input(
        "Sweep name" if mode == SWEEP else "Run name",
        placeholder="automatic",
        help="The folder in the runs folder; empty: the preset's name (or sweep) and a time",
        disabled=locked,
        **FORM.widget("name", running.run_name if locked else STORED),
    )
    for cell, key in zip(cells[2:], keys, strict=False):
        setting = SETTINGS[key]
        if mode == SWEEP and key in APP_SWEPT:
            shown = format_values(running.sweep.grid[key]) if locked else STORED
            cell.text_input(
                f"{setting.spec.label} (several)",
                help=f"{setting.describe()} {TRAINED_HELP if key in TRAINED else REPLAYED_HELP}",
                disabled=locked,
                **FORM.widget(sweep_field(key), shown),
            )
        else:
            shown = control_value(setting, values[key]) if locked else FORM[key]
            disabled = locked or not setting.applies_to(model)
            control(cell, setting, FORM, shown=shown, disabled=disabled)
        if problem is not None and getattr(problem, "setting", None) == key:
            error_box(cell, problem)
    if problem is not None and getattr(problem, "setting", None) not in keys:
        error_box(st, problem)
    if locked:
        st.caption(f"The settings of `{running.run_name}`, locked while it is active.")
    notes(model)


def notes(model: str) -> None:
    """What the form does not show: the augmentation in use, and a warning for slow choices."""
    if model == "alexnet" and cache.inference_device().type == "cpu":
        st.caption(
            ":material/warning: alexnet sees 227 px images: on a CPU an epoch of the full data "
            "takes hours. cpu-fast, or a few thousand training images, keeps it to minutes."
        )
    if train_state.augment() is None:
        st.caption("Augmentation: the preset's. Tune one on the Augmentations page.")
        return
    st.caption("Augmentation: the one made on the Augmentations page.")
    st.button("Use the preset's augmentation", on_click=train_state.set_augment, args=(None,))
