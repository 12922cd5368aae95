"""One way for a test to wait on something that happens in another thread or process: poll a
condition, with a deadline, failing at once when the process it waits on has died."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = 60.0,
    interval: float = 0.05,
    what: str = "the condition",
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns a truthy value, and return that value. The test
    fails after ``timeout`` seconds (with what ``explain`` says of the state then), or as soon
    as ``process`` has exited (with the tail of its ``log``, which says why)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-2000:] if log is not None else ""
            pytest.fail(f"the process exited ({process.returncode}) before {what}:\n{tail}")
        if time.monotonic() >= deadline:
            said = f":\n{explain()}" if explain is not None else ""
            pytest.fail(f"{what} did not happen within {timeout} s{said}")
        time.sleep(interval)
