"""The sidebar every page shares: data source, runs folder, device, and the training job."""

from __future__ import annotations

import streamlit as st

from lab import jobs
from lab.config import CIFAR10_SOURCE
from lab.device import describe_device
from ui import state, training
from ui.cache import inference_device, job_manager

# The sidebar's job status refreshes this often (seconds) while a job is active.
STATUS_REFRESH_S = 3.0


def render() -> None:
    with st.sidebar:
        st.subheader("Data", anchor=False)
        env_source = state.env_data_source()
        labels = {
            state.DATA_FROM_ENV: f"CIFAR_LAB_DATA ({env_source or 'not set: cifar10'})",
            state.DATA_CIFAR10: f"`{CIFAR10_SOURCE}` (torchvision download)",
            state.DATA_TYPED: "A folder on this server",
        }
        st.radio(
            "Data source",
            state.DATA_CHOICES,
            format_func=labels.get,
            key=state.DATA_CHOICE,
            label_visibility="collapsed",
        )
        if st.session_state[state.DATA_CHOICE] == state.DATA_TYPED:
            st.text_input(
                "Image folder",
                key=state.DATA_FOLDER,
                placeholder="/data/cifar10-jpeg",
                help="A folder with train/<class>/* and test/<class>/* images",
            )
            if state.data_source_problem():
                st.error(state.data_source_problem(), icon=":material/block:")
        st.text_input(
            "Runs folder",
            key=state.RUNS_DIR,
            help="Where run folders (checkpoints, history, metrics) are written and listed",
        )
        if state.runs_dir_problem():
            st.error(
                f"{state.runs_dir_problem()}. Using {state.runs_dir()} meanwhile.",
                icon=":material/block:",
            )
        st.caption(f"Device: {describe_device(inference_device())}")
        st.divider()
        job_status()


def job_status() -> None:
    """Compact state of this tab's job; refreshes itself while the job is active, which also
    tells the job manager that somebody is still watching the job."""
    snapshot = training.current_snapshot()
    active = snapshot is not None and snapshot.active

    @st.fragment(run_every=STATUS_REFRESH_S if active else None)
    def status() -> None:
        snap = training.current_snapshot()
        if snap is None:
            st.caption("No training job in this tab. Start one on the Train page.")
        else:
            st.markdown(training.status_line(snap))
            if snap.state in (jobs.RUNNING, jobs.PAUSED, jobs.STOPPING):
                st.progress(snap.progress)
            if snap.active != active:
                st.rerun()  # the job started or ended: redraw the page's controls too
        others = [
            job
            for job in job_manager().jobs()
            if job.active and (snap is None or job.job_id != snap.job_id)
        ]
        if others:
            st.caption(f"{len(others)} other job(s) active on this server")

    status()
