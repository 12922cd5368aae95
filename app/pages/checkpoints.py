"""Checkpoints: every run in the runs folder, in tabs. Overview (the runs table, curves),
Errors (confusion, per-class scores, confused pairs, top losses with Grad-CAM), Calibration,
Compare (two runs), Dynamics (patience what-if, generalisation gap), Robustness, Map (what the
network learned) and Sweeps. Only the open tab runs; every view of a finished run comes from the
test evaluation the run keeps."""

import streamlit as st

from app import serving
from app.run_choice import best_run, checkpoint_file
from app.state import checkpoints, source
from app.state.checkpoints import TABS, VIEW
from app.views import checkpoints as view
from app.views.checkpoints import (
    calibration,
    compare,
    dynamics,
    embedding_map,
    errors,
    overview,
    robustness,
    sweeps,
)
from app.widgets import no_runs_yet
from lab.runs import list_runs
from lab.sweep import list_sweeps

st.title("Checkpoints", anchor=False)
runs_dir = source.runs_dir()
found = list_runs(runs_dir)
sweep_dirs = list_sweeps(runs_dir)
message = checkpoints.message()
if message:
    (st.error if message[0] == "error" else st.success)(message[1])
    checkpoints.set_message(None)
if not found and not sweep_dirs:
    no_runs_yet(runs_dir)
if not found:
    sweeps.render(sweep_dirs)
    st.stop()
by_name = {run.name: run for run in found}
names = list(by_name)

checkpoints.pick_detail_run(names, best_run(found))
top = st.container(horizontal=True, vertical_alignment="bottom")
name = top.selectbox("Run", names, width=320, **VIEW.widget("detail"))
run = by_name[name]
checkpoint = checkpoint_file(run)
top.download_button(
    f"Download {checkpoint.name}",
    checkpoint.read_bytes,
    file_name=f"{name}-{checkpoint.name}",
    mime="application/octet-stream",
    icon=":material/download:",
    on_click="ignore",
)
if view.resumable(run):
    top.button("Resume training", icon=":material/resume:", on_click=view.resume, args=(run,))
top.button(
    "Delete run", icon=":material/delete:", on_click=checkpoints.set_pending_delete, args=(name,)
)
if checkpoints.pending_delete() == name:
    with st.container(border=True):
        st.warning(
            f"Delete `{serving.shown(run.path)}` with all its checkpoints? This cannot be undone."
        )
        yes, no = st.columns([1, 4])
        yes.button("Yes, delete", type="primary", on_click=view.delete, args=(run,))
        no.button("Cancel", on_click=checkpoints.set_pending_delete, args=(None,))

tabs = dict(zip(TABS, st.tabs(TABS, **checkpoints.tab_widget()), strict=True))
draw = {
    "Overview": lambda: overview.render(found, run),
    "Errors": lambda: errors.render(run),
    "Calibration": lambda: calibration.render(run),
    "Compare": lambda: compare.render(found, name),
    "Dynamics": lambda: dynamics.render(run),
    "Robustness": lambda: robustness.render(run),
    "Map": lambda: embedding_map.render(found, run),
    "Sweeps": lambda: sweeps.render(sweep_dirs),
}
for label, tab in tabs.items():
    if tab.open:
        with tab:
            draw[label]()
