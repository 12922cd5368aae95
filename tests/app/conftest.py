"""Fixtures of the app tests: data or no data, runs or no runs, and no job left running."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from app_helpers import tiny_run_config

from lab import runs
from lab.config import DATA_ENV
from lab.fit import fit
from lab.launch import prepare_run


@pytest.fixture(scope="session")
def trained_runs(tiny_folder, tmp_path_factory) -> Path:
    """A runs folder with two finished tiny runs, trained once for the whole session."""
    runs_dir = tmp_path_factory.mktemp("trained-runs")
    for name, lr in (("tiny-a", 3e-3), ("tiny-b", 1e-3)):
        fit(prepare_run(tiny_run_config(tiny_folder, epochs=2, lr=lr), runs_dir, name=name))
    return runs_dir


@pytest.fixture
def with_data(tiny_folder, monkeypatch) -> Path:
    monkeypatch.setenv(DATA_ENV, str(tiny_folder))
    return tiny_folder


@pytest.fixture
def without_data(tmp_path, monkeypatch) -> Path:
    missing = tmp_path / "no-data-here"
    monkeypatch.setenv(DATA_ENV, str(missing))
    return missing


@pytest.fixture
def empty_runs(tmp_path, monkeypatch) -> Path:
    runs_dir = tmp_path / "runs"
    monkeypatch.setenv(runs.RUNS_ENV, str(runs_dir))
    return runs_dir


@pytest.fixture
def with_runs(trained_runs, tmp_path, monkeypatch) -> Path:
    """A private copy of the trained runs (tests may delete or add runs)."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(trained_runs, runs_dir)
    monkeypatch.setenv(runs.RUNS_ENV, str(runs_dir))
    return runs_dir


@pytest.fixture(autouse=True)
def no_job_left_running():
    """The job manager lives as long as the process: stop what a test started."""
    yield
    from app.cache import job_manager

    job_manager().stop_all()
