"""The Train page's Start, Pause, Resume and Stop buttons and their callbacks, which run before
the page is drawn, so it shows the new state; and what the page says before this tab has a
job."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app.cache import data_store, job_manager
from app.jobs import ANOTHER_SESSION, STATE_LABELS, others_active
from app.state import job, source
from app.state import train as train_state
from lab import jobs, sweep
from lab.errors import LabError
from lab.jobs import JobSnapshot

# Pixels of each of Start, Pause, Resume and Stop: room for the longest label and its icon.
BUTTON_WIDTH = 120


def render(keys: Sequence[str], snap: JobSnapshot | None, startable: bool) -> None:
    """Start, Pause, Resume and Stop, each enabled when it applies to this tab's job: only the
    session that started a job may pause, resume or stop it."""
    active = snap is not None and snap.active
    mine = snap is None or snap.owned_by(job.owner())
    why_not = None if mine else ANOTHER_SESSION
    # A queued run has not started: there is nothing to pause, and Stop cancels it.
    queued = snap is not None and snap.state == jobs.QUEUED
    # A row that wraps rather than cuts a label when the window is narrow.
    row = st.container(horizontal=True)
    row.button(
        "Start",
        type="primary",
        icon=":material/play_arrow:",
        on_click=start,
        args=(keys,),
        disabled=active or not startable,
        width=BUTTON_WIDTH,
    )
    row.button(
        "Pause",
        icon=":material/pause:",
        on_click=pause,
        help=why_not or ("A queued run has not started: Stop cancels it." if queued else None),
        disabled=not (mine and snap and snap.state == jobs.RUNNING),
        width=BUTTON_WIDTH,
    )
    row.button(
        "Resume",
        icon=":material/resume:",
        on_click=resume,
        help=why_not,
        disabled=not (mine and snap and snap.resumable),
        width=BUTTON_WIDTH,
    )
    row.button(
        "Stop",
        icon=":material/stop:",
        on_click=stop,
        help=why_not or ("Cancels the queued run before it trains." if queued else None),
        disabled=not (mine and active),
        width=BUTTON_WIDTH,
    )


def start(keys: Sequence[str]) -> None:
    """Start button: check the run (or the sweep) against the data and hand it to the job
    manager."""
    train_state.set_start_error(None)
    data = source.data_source()
    manager = job_manager()
    who = {"owner": job.owner(), "owner_name": job.owner_name()}
    try:
        config, grid = train_state.planned(keys, data)
        dataset = data_store().load(data)
        name = train_state.run_name()
        if grid is None:
            job_id = manager.submit(config, source.runs_dir(), name=name, dataset=dataset, **who)
        else:
            sweep_dir = sweep.create_sweep(
                config, grid, source.runs_dir(), name=name, owner=job.owner_name()
            )
            job_id = manager.submit_sweep(sweep_dir, dataset=dataset, **who)
    except LabError as error:
        train_state.set_start_error(error)
        return
    except OSError as error:
        where = source.runs_dir()
        train_state.set_start_error(LabError(f"cannot create a run folder in {where}: {error}"))
        return
    job.watch(job_id)


def pause() -> None:
    job_manager().pause(job.job_id(), by=job.owner())


def resume() -> None:
    job_manager().resume(job.job_id(), by=job.owner())


def stop() -> None:
    job_manager().stop(job.job_id(), by=job.owner())


def no_job() -> None:
    """What the page says before this tab has a job, with the server's active jobs to watch."""
    st.info(
        "Set up a run (or a sweep) and press **Start**. It trains in the background: you can "
        "switch pages."
    )
    for other in others_active(None):
        st.button(
            f"Watch {other.run_name} ({STATE_LABELS[other.state].lower()})",
            on_click=job.watch,
            args=(other.job_id,),
            help="Follow its progress here, read-only: only the session that started it can "
            "pause, resume or stop it.",
        )
