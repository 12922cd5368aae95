"""The training job of this browser tab: the one it started or chose to watch."""

from __future__ import annotations

from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.state.store import Store

STORE = Store("job", lambda: {"job_id": None})


def session_id() -> str | None:
    """This browser tab's id, recorded as the owner of the jobs it starts."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def job_id() -> str | None:
    return STORE["job_id"]


def watch(job_id: str | None) -> None:
    """Follow this job on this tab (also a button callback: "Watch <run>")."""
    STORE.set("job_id", job_id)
