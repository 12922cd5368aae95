"""The sidebar's state: where the data comes from and where runs are written."""

from __future__ import annotations

import os
from pathlib import Path

from app.state.store import Store
from lab.config import CIFAR10_SOURCE, DATA_ENV
from lab.errors import ConfigError
from lab.paths import resolve_user_path
from lab.runs import default_runs_dir

DATA_FROM_ENV, DATA_CIFAR10, DATA_TYPED = "env", "cifar10", "folder"
DATA_CHOICES = (DATA_FROM_ENV, DATA_CIFAR10, DATA_TYPED)

STORE = Store(
    "source",
    lambda: {"data_choice": DATA_FROM_ENV, "data_folder": "", "runs_dir": str(default_runs_dir())},
)


def env_data_source() -> str:
    return os.environ.get(DATA_ENV, "").strip()


def data_source_problem() -> str | None:
    """Why the typed data folder cannot be used (empty, or outside ``CIFAR_LAB_ROOTS``)."""
    if STORE["data_choice"] != DATA_TYPED:
        return None
    try:
        resolve_user_path(STORE["data_folder"], what="data folder")
    except ConfigError as error:
        return str(error)
    return None


def data_source() -> str:
    """The data source the sidebar selects: a folder path or ``cifar10`` ("" when the typed
    folder is refused: ``data_source_problem`` says why)."""
    choice = STORE["data_choice"]
    if choice == DATA_CIFAR10:
        return CIFAR10_SOURCE
    if choice == DATA_TYPED:
        if data_source_problem():
            return ""
        return str(resolve_user_path(STORE["data_folder"], what="data folder"))
    return env_data_source() or CIFAR10_SOURCE


def runs_dir_problem() -> str | None:
    """Why the typed runs folder cannot be used; the configured default is always allowed."""
    value = STORE["runs_dir"].strip()
    if not value or value == str(default_runs_dir()):
        return None
    try:
        resolve_user_path(value, what="runs folder")
    except ConfigError as error:
        return str(error)
    return None


def runs_dir() -> Path:
    """The runs folder typed in the sidebar, or the default one while the typed one is refused."""
    value = STORE["runs_dir"].strip()
    if not value or runs_dir_problem():
        return default_runs_dir()
    return Path(value).expanduser()
