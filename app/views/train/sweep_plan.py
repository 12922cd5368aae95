"""A sweep's size and duration on the Train page: how many runs it trains, and roughly how long
they take at the speed that runs with the same speed settings (``lab.config.speed_key``)
reached on this machine."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.state import train as train_state
from app.views.train import format_duration
from lab import sweep
from lab.config import SPEED_SETTINGS, RunConfig, speed_key
from lab.presets import PRESETS
from lab.runs import list_runs, read_history


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def measured_speed(runs_dir: str, key: tuple) -> float | None:
    """Training images per second that the newest run in ``runs_dir`` or one of its sweeps
    with the speed key ``key`` (``lab.config.speed_key``: the same model, width, batch size,
    precision, ...) reached on this machine, the median over its epochs; None before any has
    trained. Kept a minute: the runs folder is read again after that."""
    here = Path(runs_dir)
    swept = here.glob(f"*/{sweep.SWEEP_FILE}")
    found = list_runs(here) + [run for file in swept for run in list_runs(file.parent)]
    for run in sorted(found, key=lambda run: -run.modified):
        if speed_key(run.config) != key:
            continue
        speeds = read_history(run.path)["images_per_s"].dropna()
        if len(speeds):
            return float(speeds.median())
    return None


def speed_settings(config: RunConfig) -> str:
    """The settings training speed depends on, in words: "model alexnet_cifar, width 0.5,
    batch size 64 images, progressive resizing off, ..." (those that apply to the model and
    are set), each in its declared words."""
    values = dict(speed_key(config.to_dict()))
    parts = []
    for declared in SPEED_SETTINGS:
        value = values[declared.key]
        if not declared.applies_to(config.model.name) or value is None:
            continue
        parts.append(f"{declared.spec.label.lower()} {declared.in_words(value)}")
    return ", ".join(parts)


def render(config: RunConfig, grid: dict, train_images: int, runs_dir: Path) -> None:
    """How many runs the sweep makes, that smaller patience values are replayed, and roughly
    how long it takes at the speed runs with the same speed settings reached here."""
    trained = len(grid["lr"])
    text = sweep.describe({"runs": [None] * trained, "grid": grid})
    speed = measured_speed(str(runs_dir), speed_key(config.to_dict()))
    epochs = config.train.epochs
    if speed is None:
        how_long = (
            f"No run with the same {speed_settings(config)} has trained in this runs folder "
            "yet, so there is no speed to estimate the time from: one short run gives it."
        )
    else:
        seconds = trained * epochs * train_images / speed
        how_long = (
            f"At most about {format_duration(seconds)}: {trained} × {epochs} epochs of "
            f"{train_images:,} images at {speed:,.0f} images/s (measured here); early stopping "
            "may end runs sooner."
        )
    st.info(f"**{text[0].upper()}{text[1:]}.** {how_long}", icon=":material/grid_view:")
    if config.preset != train_state.SWEEP_PRESET:
        st.button(
            f"Use the one-minute preset ({train_state.SWEEP_PRESET})",
            icon=":material/bolt:",
            on_click=train_state.use_sweep_preset,
            help=f"A sweep trains several runs: {train_state.SWEEP_PRESET} is "
            f"{PRESETS[train_state.SWEEP_PRESET].description}. The values to try are set around "
            "its own.",
        )
