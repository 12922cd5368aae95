"""Atomic file writes: the one way the lab writes a file that a crash must never leave half done.

Checkpoints, run files, the decoded-data cache and run cards all go through ``atomic_write``:
the content goes to a temp file in the destination's folder, is flushed and fsynced, and then
renamed over the destination. A reader sees the old file or the new one, never a torn one, even
if the process is killed mid-write or the disk fills up (the temp file is removed on error).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

# Test hook: seconds to sleep between writing the temp file and renaming it, so a test can kill
# the process in the middle of a write. Unset (the default) means no sleep.
SAVE_DELAY_ENV = "CIFAR_LAB_TEST_SAVE_DELAY"


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write`` on a binary temp file beside ``path``, fsync it, then rename it to
    ``path``; returns ``path``."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if os.environ.get(SAVE_DELAY_ENV):
            time.sleep(float(os.environ[SAVE_DELAY_ENV]))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


class _Writes:
    """A file wrapper that remembers the ``OSError`` of a failed write: ``torch.save`` turns it
    into a ``RuntimeError`` ("unexpected pos ..."), which would hide a full disk."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through ``atomic_write``; a failed write raises its own ``OSError``
    (ENOSPC for a full disk), not torch's wrapper."""

    def write(handle: IO[bytes]) -> None:
        writes = _Writes(handle)
        try:
            torch.save(obj, writes)
        except RuntimeError:
            if writes.error is not None:
                raise writes.error from None
            raise

    return atomic_write(path, write)


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """A UTF-8 text file through ``atomic_write``."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
