"""Train: the other runs on this server at the top (each opens read-only with its live charts),
then a preset and its settings, one run or a sweep of several learning rates and patience
values, Start/Pause/Resume/Stop, and the job's live charts.

Two expanders read the chosen network (layer table) and run a learning-rate range test.
Training runs in a background job of the job manager, so it keeps going across reruns and page
switches; this page only polls it (every 1.5 s while it is active) and redraws itself whole
when the job's state changes, so its buttons always match that state."""

import streamlit as st

from app import jobs
from app.cache import inference_device
from app.data import require_dataset
from app.state import source
from app.state.train import FORM
from app.views.train import buttons, code, form, live, sweep_plan, tools

# Seconds between two redraws of the live view while a job is active.
POLL_S = 1.5
# Seconds between two looks for other runs while there is none.
LOOK_S = 5.0

st.title("Train", anchor=False)
listed = bool(jobs.classmates())


@st.fragment(run_every=POLL_S if listed else LOOK_S)
def classmates() -> None:
    others = jobs.classmates()
    if bool(others) != listed:
        st.rerun()  # the first one came or the last one went: poll at the pace that fits
    live.render_classmates(others)


classmates()
dataset = require_dataset("train a model")
if dataset is None:
    st.stop()
snap = jobs.current_snapshot()
active = snap is not None and snap.active
# What the form describes, checked against the data as Start would check it.
config, grid, train_images, problem = (
    (None, None, None, None) if active else form.check(form.SHOWN, source.data_source(), dataset)
)

with st.container(border=True):
    mode = form.mode_choice(snap if active else None)
    form.settings_form(form.SHOWN, mode, snap if active else None, problem)
if grid is not None:
    sweep_plan.render(config, grid, train_images, source.runs_dir())
code.render(config, form.SHOWN, snap if active else None, tuple(grid or ()))
in_form = snap.config.settings() if active else FORM.values()
with st.expander("Model anatomy: layers, output shapes, parameters and FLOPs"):
    tools.anatomy(in_form["model"], in_form["width"], len(dataset.classes))
with st.expander("Learning-rate finder"):
    tools.lr_finder(config, problem, dataset, inference_device(), active)
buttons.render(form.SHOWN, snap, startable=config is not None)

if snap is None:
    buttons.no_job()
    st.stop()


@st.fragment(run_every=POLL_S if active else None)
def live_view(rendered_state: str) -> None:
    latest = jobs.current_snapshot()
    if latest is None or latest.state != rendered_state:
        st.rerun()  # paused, resumed, started or ended: redraw the buttons and the summary
    live.render(latest)
    # The summary is part of the fragment: a timer's fragment run that cuts the page's last
    # full run short (the run had just ended) must not leave the page without it.
    if not latest.active:
        live.render_outcome(latest)


live_view(snap.state)
