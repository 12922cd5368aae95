"""The training job of this browser: the one it started or chose to watch, and a classmate's run
it opened on the Train page; and who this browser is to the job manager."""

from __future__ import annotations

from app.state import browser
from app.state.store import Store

STORE = Store("job", lambda: {"job_id": None, "viewing": None})


def owner() -> str:
    """This browser's key: the owner the job manager records for the jobs it starts, and the
    only one that may pause, resume or stop them (``app.state.browser``)."""
    return browser.key()


def owner_name() -> str | None:
    """The name the job manager shows to the others beside this browser's jobs."""
    return browser.name() or None


def job_id() -> str | None:
    return STORE["job_id"]


def watch(job_id: str | None) -> None:
    """Follow this job on this tab (also a button callback: "Watch <run>")."""
    STORE.set("job_id", job_id)


def viewing() -> str | None:
    """The classmate's job opened read-only at the top of the Train page, if any."""
    return STORE["viewing"]


def view(job_id: str | None) -> None:
    """Button callback: open a classmate's job read-only (None closes it)."""
    STORE.set("viewing", job_id)
