"""Allowed root folders: what a user may point the lab at when it is served to other people.

When the app runs on a server, its data-folder and runs-folder boxes must not become a way to
browse the server's files. ``CIFAR_LAB_ROOTS`` lists the folders users may use, separated by
``os.pathsep`` (``:`` on Linux and macOS); a typed path is resolved (``~``, ``..`` and symbolic
links) and refused unless the result lies inside one of them. Unset or empty means no
restriction, which is right for a lab on one's own machine. Relative paths are taken from the
working folder, as everywhere else in the lab.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.errors import ConfigError

ROOTS_ENV = "CIFAR_LAB_ROOTS"


def allowed_roots() -> tuple[Path, ...]:
    """The resolved folders of ``CIFAR_LAB_ROOTS``; empty when every path is allowed."""
    value = os.environ.get(ROOTS_ENV, "")
    return tuple(Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part)


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
    if roots and not any(path == root or root in path.parents for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise ConfigError(
            f"the {what} {text!r} is outside the folders this lab may use ({allowed}); "
            f"choose a path inside one of them"
        )
    return path
