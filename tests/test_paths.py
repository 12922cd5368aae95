"""Allowed root folders (CIFAR_LAB_ROOTS): a typed path is resolved, then kept inside them."""

from __future__ import annotations

import os

import pytest

from lab.errors import ConfigError
from lab.paths import ROOTS_ENV, allowed_roots, resolve_user_path


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """data/ and runs/ are allowed; secret/ beside them is not."""
    for name in ("data/cifar/train", "runs", "secret", "data2"):
        (tmp_path / name).mkdir(parents=True)
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(tmp_path / "data"), str(tmp_path / "runs")]))
    return tmp_path


def test_unset_means_no_restriction(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    assert allowed_roots() == ()
    assert resolve_user_path(str(tmp_path / "a" / ".." / "b")) == (tmp_path / "b").resolve()
    monkeypatch.setenv(ROOTS_ENV, "")
    assert allowed_roots() == ()


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
