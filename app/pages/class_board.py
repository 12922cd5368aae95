"""Class board: every run on this server by student (the name each gave in the sidebar), its
best accuracy, its time and what it changed from its preset, and each student's best run; what
a teacher reads to see what the class tried and what worked. ``lab.board`` computes it from the
run folders; this page only renders it, again every few seconds while a job trains."""

import streamlit as st

from app import serving
from app.cache import job_manager
from app.state import source
from app.views import class_board as view
from app.widgets import no_runs_yet
from lab import board

# Seconds between two readings of the runs folder while a job is active on the server.
REFRESH_S = 10.0

st.title("Class board", anchor=False)
runs_dir = source.runs_dir()
training = any(snap.active for snap in job_manager().jobs())


@st.fragment(run_every=REFRESH_S if training else None)
def tables() -> None:
    every = board.class_board(runs_dir)
    if every.empty:
        no_runs_yet(runs_dir)
    view.render(every, board.best_per_student(every), serving.shown(runs_dir))


tables()
