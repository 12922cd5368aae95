"""Allowed root folders (CIFAR_LAB_ROOTS): a typed path is resolved, then kept inside them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.config import DATA_ENV
from lab.data import CACHE_ENV
from lab.errors import ConfigError
from lab.paths import ROOTS_ENV, allowed_roots, resolve_user_path
from lab.runs import RUNS_ENV


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """data/ and runs/ are allowed; secret/ beside them is not."""
    for name in ("data/cifar/train", "runs", "secret", "data2"):
        (tmp_path / name).mkdir(parents=True)
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(tmp_path / "data"), str(tmp_path / "runs")]))
    return tmp_path


@pytest.fixture
def started(tmp_path, monkeypatch):
    """No CIFAR_LAB_ROOTS: an app started in work/ with its runs, data and cache elsewhere."""
    for name in ("work/sub", "runs", "data/train", "cache", "secret"):
        (tmp_path / name).mkdir(parents=True)
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("value", [None, "", os.pathsep])
def test_unset_means_the_start_folder_and_the_runs_data_and_cache_folders(
    started, value, monkeypatch
):
    if value is not None:
        monkeypatch.setenv(ROOTS_ENV, value)
    expected = [started / name for name in ("work", "runs", "data", "cache")]
    assert allowed_roots() == tuple(path.resolve() for path in expected)
    for inside in ("work/sub", "runs/new-run", "data/train", "cache"):
        assert resolve_user_path(str(started / inside)) == (started / inside).resolve()
    assert resolve_user_path("sub") == (started / "work" / "sub").resolve()


@pytest.mark.parametrize("outside", ["/", "/etc", "/etc/passwd", "~", "../secret"])
def test_unset_no_longer_means_everything(started, outside):
    with pytest.raises(ConfigError, match="outside the folders this lab may use"):
        resolve_user_path(outside)


def test_the_torchvision_source_adds_no_root(started, monkeypatch):
    monkeypatch.setenv(DATA_ENV, "cifar10")
    assert allowed_roots() == tuple(
        (started / name).resolve() for name in ("work", "runs", "cache")
    )


def test_a_refused_path_says_how_to_widen_the_roots(started):
    with pytest.raises(ConfigError) as caught:
        resolve_user_path(str(started / "secret"), what="data folder")
    message = str(caught.value)
    assert f"set {ROOTS_ENV}" in message and f"separated by '{os.pathsep}'" in message
    assert len(message.splitlines()) == 1


def test_roots_are_read_resolved_and_split_on_pathsep(tree):
    assert allowed_roots() == ((tree / "data").resolve(), (tree / "runs").resolve())


@pytest.mark.parametrize("inside", ["data", "data/cifar", "data/cifar/train", "runs/new-run"])
def test_paths_inside_a_root_are_allowed_and_resolved(tree, inside):
    assert resolve_user_path(str(tree / inside)) == (tree / inside).resolve()


@pytest.mark.parametrize(
    "outside",
    [
        "secret",
        "data/../secret",
        "data/cifar/../../secret",
        "data2",  # shares the prefix "data" as text, but is another folder
        "",
    ],
)
def test_paths_outside_every_root_are_refused(tree, outside):
    with pytest.raises(ConfigError, match="outside the folders this lab may use"):
        resolve_user_path(str(tree / outside) if outside else str(tree))


@pytest.mark.parametrize("system", ["/", "/etc", "/etc/passwd", "~", "../../.."])
def test_the_servers_own_files_are_refused(tree, system):
    with pytest.raises(ConfigError, match="outside the folders"):
        resolve_user_path(system)


def test_a_link_inside_a_root_to_a_folder_outside_is_refused(tree):
    (tree / "data" / "shortcut").symlink_to(tree / "secret", target_is_directory=True)
    with pytest.raises(ConfigError, match="outside the folders"):
        resolve_user_path(str(tree / "data" / "shortcut"))


def test_a_link_outside_to_a_folder_inside_resolves_inside(tree):
    (tree / "secret" / "to-data").symlink_to(tree / "data", target_is_directory=True)
    assert resolve_user_path(str(tree / "secret" / "to-data")) == (tree / "data").resolve()


def test_relative_paths_start_at_the_working_folder(tree, monkeypatch):
    monkeypatch.chdir(tree / "data")
    assert resolve_user_path("cifar") == (tree / "data" / "cifar").resolve()
    with pytest.raises(ConfigError, match="outside the folders"):
        resolve_user_path("../secret")


def test_explicit_roots_override_the_environment(tree):
    only_secret = (tree / "secret",)
    assert resolve_user_path(tree / "secret", only_secret) == (tree / "secret").resolve()
    with pytest.raises(ConfigError, match="outside"):
        resolve_user_path(tree / "data", only_secret)


@pytest.mark.parametrize(("value", "message"), [("", "empty"), ("   ", "empty"), ("a\0b", "NUL")])
def test_unusable_text_is_refused(tree, value, message):
    with pytest.raises(ConfigError, match=message):
        resolve_user_path(value, what="data folder")


def test_a_link_loop_is_refused_not_crashed(tree):
    (tree / "secret" / "loop").symlink_to(tree / "secret" / "loop")
    with pytest.raises(ConfigError):  # "cannot be resolved", or "outside" where Python 3.13+
        resolve_user_path(str(tree / "secret" / "loop" / "x"))  # leaves a loop unresolved


def test_the_message_names_what_was_typed_and_the_allowed_folders(tree):
    with pytest.raises(ConfigError) as caught:
        resolve_user_path("/etc", what="runs folder")
    message = str(caught.value)
    assert message.startswith("the runs folder '/etc' is outside")
    assert str((tree / "data").resolve()) in message and str((tree / "runs").resolve()) in message


def test_the_app_serves_this_machine_only_unless_told_otherwise():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    settings = tomllib.loads((root / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["server"]["address"] == "localhost"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "--server.address 0.0.0.0" in readme and ROOTS_ENV in readme
