"""Allowed root folders: what a user may point the lab at when it is served to other people.

The app's data-folder and runs-folder boxes must not become a way to browse, fill or empty the
server's disk. ``CIFAR_LAB_ROOTS`` lists the folders users may use, separated by ``os.pathsep``
(``:`` on Linux and macOS). Unset (or empty), the roots are what the lab was started with, as
Jupyter's ``root_dir`` is: the working folder, the runs folder (``CIFAR_LAB_RUNS``), the data
folder (``CIFAR_LAB_DATA``, when it is a folder) and the cache folder (``CIFAR_LAB_CACHE``).
A typed path is resolved (``~``, ``..`` and symbolic links) and refused unless the result lies
inside one of the roots. Relative paths are taken from the working folder, as everywhere else
in the lab. The command line does not use roots: whoever types a command has a shell already.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.config import CIFAR10_SOURCE, default_source
from lab.data import default_cache_dir
from lab.errors import ConfigError
from lab.runs import default_runs_dir

ROOTS_ENV = "CIFAR_LAB_ROOTS"


def allowed_roots() -> tuple[Path, ...]:
    """The resolved folders of ``CIFAR_LAB_ROOTS``, else those the lab was started with: the
    working folder and the runs, data and cache folders."""
    value = os.environ.get(ROOTS_ENV, "")
    listed = [Path(part) for part in value.split(os.pathsep) if part.strip()]
    if not listed:
        source = default_source()
        data = [] if source.strip().lower() == CIFAR10_SOURCE else [Path(source)]
        listed = [Path.cwd(), default_runs_dir(), *data, default_cache_dir()]
    roots: list[Path] = []
    for path in listed:
        resolved = path.expanduser().resolve()
        if resolved not in roots:
            roots.append(resolved)
    return tuple(roots)


def resolve_user_path(
    value: str | os.PathLike, roots: tuple[Path, ...] | None = None, *, what: str = "folder"
) -> Path:
    """The absolute, link-free form of a user-typed path, or a ``ConfigError`` saying why not.

    ``roots`` defaults to ``allowed_roots()``. The returned path is the one to use from then on:
    the check holds for it, not for the text the user typed.
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"the {what} is empty: type a path")
    if "\0" in text:
        raise ConfigError(f"the {what} {text!r} contains a NUL character")
    try:
        path = Path(text.strip()).expanduser().resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop, an unknown ~user
        raise ConfigError(f"the {what} {text!r} cannot be resolved ({error})") from error
    roots = allowed_roots() if roots is None else tuple(Path(r).resolve() for r in roots)
    if not any(path == root or root in path.parents for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise ConfigError(
            f"the {what} {text!r} is outside the folders this lab may use ({allowed}): choose "
            f"a path inside one of them, or widen them: set {ROOTS_ENV} to the folders to allow, "
            f"separated by '{os.pathsep}', before starting the lab"
        )
    return path
