"""The sidebar every page shares: the student's name, data source, runs folder, device, the
training job, and the glossary of the words the lab uses. Drawn before every page, it also keeps
this browser's key in the page address and its stores on the server (``app.state.browser``).

Served beyond localhost, the folders it names are named from their roots (``app.serving``)."""

from __future__ import annotations

import streamlit as st

from app import glossary, serving
from app import jobs as job_status
from app.cache import inference_device
from app.state import augment, browser, dataset, job, source, train
from lab import jobs
from lab.config import CIFAR10_SOURCE
from lab.device import describe_device

# The sidebar's job status refreshes this often (seconds) while a job is active.
STATUS_REFRESH_S = 3.0
# What a reload brings back: what the user set on the pages and the job the tab follows.
REMEMBERED = (
    browser.STUDENT,
    source.STORE,
    dataset.GRID,
    augment.CONTROLS,
    train.FORM,
    job.STORE,
)


def render() -> None:
    browser.remember(REMEMBERED)
    with st.sidebar:
        st.text_input(
            "Your name",
            placeholder="as the class knows you",
            help="Shown beside your runs to the others on this server (the Train page, the "
            "Class board). Your runs are yours in this browser while you keep this page's "
            "address: bookmark it to come back to them.",
            **browser.STUDENT.widget("name", then=browser.keep_name),
        )
        st.subheader("Data", anchor=False)
        env_source = serving.shown(source.env_data_source() or "not set: cifar10")
        labels = {
            source.DATA_FROM_ENV: f"CIFAR_LAB_DATA ({env_source})",
            source.DATA_CIFAR10: f"`{CIFAR10_SOURCE}` (torchvision download)",
            source.DATA_TYPED: "A folder on this server",
        }
        choice = st.radio(
            "Data source",
            source.DATA_CHOICES,
            format_func=labels.get,
            label_visibility="collapsed",
            **source.STORE.widget("data_choice"),
        )
        if choice == source.DATA_TYPED:
            st.text_input(
                "Image folder",
                placeholder="/data/cifar10-jpeg",
                help="A folder with train/<class>/* and test/<class>/* images",
                **folder_box("data_folder"),
            )
            if source.data_source_problem():
                st.error(serving.shown(source.data_source_problem()), icon=":material/block:")
        st.text_input(
            "Runs folder",
            help="Where run folders (checkpoints, history, metrics) are written and listed",
            **folder_box("runs_dir"),
        )
        if source.runs_dir_problem():
            st.error(
                serving.shown(f"{source.runs_dir_problem()}. Using {source.runs_dir()} meanwhile."),
                icon=":material/block:",
            )
        st.caption(f"Device: {describe_device(inference_device())}")
        st.divider()
        status()
        st.divider()
        glossary.popover()


def folder_box(field: str) -> dict:
    """The keyword arguments of a text box for the folder ``field`` of the sidebar's store: it
    shows the folder as ``serving.shown`` names it, and keeps what the user types as the
    server's folder it names."""

    def typed() -> None:
        source.STORE.set(field, serving.typed(source.STORE[field]))

    return source.STORE.widget(field, shown=serving.shown(source.STORE[field]), then=typed)


def status() -> None:
    """Compact state of this tab's job; refreshes itself while the job is active, which also
    tells the job manager that somebody is still watching the job."""
    snapshot = job_status.current_snapshot()
    active = snapshot is not None and snapshot.active

    @st.fragment(run_every=STATUS_REFRESH_S if active else None)
    def refreshed() -> None:
        snap = job_status.current_snapshot()
        if snap is None:
            st.caption("No training job in this tab. Start one on the Train page.")
        else:
            st.markdown(job_status.status_line(snap))
            if snap.state in (jobs.RUNNING, jobs.PAUSED, jobs.STOPPING):
                st.progress(snap.progress)
            if snap.active != active:
                st.rerun()  # the job started or ended: redraw the page's controls too
        others = job_status.others_active(snap)
        if others:
            st.caption(f"{len(others)} other run(s) active on this server: see the Train page")

    refreshed()
