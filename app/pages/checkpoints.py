"""Checkpoints: every run in the runs folder, their curves overlaid, one run's training dynamics
(patience what-if, generalisation gap), its confusion matrix, per-class scores, calibration,
errors and robustness, two runs side by side, run card export, download and delete."""

import streamlit as st

from app import charts
from app.cache import evaluation_for
from app.data import require_dataset
from app.state import checkpoints, source
from app.state.checkpoints import VIEW
from app.views import checkpoints as view
from app.views import checkpoints_lenses as lenses
from app.widgets import no_runs_yet
from lab.errors import LabError
from lab.runs import list_runs

st.title("Checkpoints", anchor=False)
runs_dir = source.runs_dir()
found = list_runs(runs_dir)
message = checkpoints.message()
if message:
    (st.error if message[0] == "error" else st.success)(message[1])
    checkpoints.set_message(None)
if not found:
    no_runs_yet(runs_dir)
by_name = {run.name: run for run in found}
names = list(by_name)

st.dataframe(
    view.runs_table(found),
    width="stretch",
    column_config={
        "lr": st.column_config.NumberColumn(format="%.0e"),
        "best val acc": st.column_config.NumberColumn(format="percent"),
        "test acc": st.column_config.NumberColumn(format="percent"),
        "wall time (min)": st.column_config.NumberColumn(format="%.1f"),
    },
)

st.subheader("Curves", anchor=False)
VIEW.ensure_choices("overlay", names, names[:3])
left, right = st.columns([3, 1])
overlay = left.multiselect("Runs to overlay", names, **VIEW.widget("overlay"))
metric = right.selectbox(
    "Metric", list(view.METRICS), format_func=view.METRICS.get, **VIEW.widget("metric")
)
curves = view.histories(found, overlay)
if curves[metric].notna().any():
    st.altair_chart(charts.run_overlay(curves, metric), width="stretch")
else:
    st.caption(f"None of the selected runs recorded {view.METRICS[metric]}.")

st.subheader("One run", anchor=False)
checkpoints.pick_detail_run(names, view.best_run(found))
name = st.selectbox("Run", names, **VIEW.widget("detail"))
run = by_name[name]
checkpoint = view.checkpoint_file(run)
actions = st.container(horizontal=True)
actions.download_button(
    f"Download {checkpoint.name}",
    checkpoint.read_bytes,
    file_name=f"{name}-{checkpoint.name}",
    mime="application/octet-stream",
    icon=":material/download:",
    on_click="ignore",
)
if view.resumable(run):
    actions.button("Resume training", icon=":material/resume:", on_click=view.resume, args=(run,))
actions.button(
    "Delete run", icon=":material/delete:", on_click=checkpoints.set_pending_delete, args=(name,)
)
if checkpoints.pending_delete() == name:
    with st.container(border=True):
        st.warning(f"Delete `{run.path}` with all its checkpoints? This cannot be undone.")
        yes, no = st.columns([1, 4])
        yes.button("Yes, delete", type="primary", on_click=view.delete, args=(run,))
        no.button("Cancel", on_click=checkpoints.set_pending_delete, args=(None,))

with st.expander("Training dynamics: patience what-if and generalisation gap", expanded=True):
    lenses.training_dynamics(run)

evaluate = st.toggle(
    "Evaluate on the test split (confusion matrix and per-class accuracy; computed once per "
    "checkpoint, which takes minutes for the 227 px model on a CPU)",
    **VIEW.widget("evaluate"),
)
if not evaluate:
    st.stop()
dataset = require_dataset("evaluate runs on the test split")
if dataset is None:
    st.stop()
data = source.data_source()
try:
    with st.spinner(f"Evaluating {name} on {len(dataset.test):,} test images ..."):
        evaluation = evaluation_for(checkpoint, data, dataset)
except LabError as error:
    st.error(str(error))
    st.stop()
normalized = st.toggle("Normalise rows (share of each true class)", **VIEW.widget("normalize"))
left, right = st.columns(2)
left.markdown(f"**Confusion matrix** · test accuracy {evaluation.accuracy:.2%}")
left.altair_chart(
    charts.confusion(evaluation.confusion(normalized), evaluation.classes, normalized),
    width="stretch",
)
right.markdown("**Accuracy per class**")
right.altair_chart(
    charts.per_class_accuracy(view.per_class_accuracy({name: evaluation})), width="stretch"
)
lenses.error_analysis(checkpoint, data, evaluation, dataset)
lenses.run_card(run, evaluation)
lenses.robustness(checkpoint, data, dataset)

st.subheader("Two runs per class", anchor=False)
VIEW.ensure_choice("compare_a", names, name)
VIEW.ensure_choice("compare_b", names, names[1] if len(names) > 1 else name)
left, right = st.columns(2)
first = left.selectbox("First run", names, **VIEW.widget("compare_a"))
second = right.selectbox("Second run", names, **VIEW.widget("compare_b"))
try:
    with st.spinner("Evaluating on the test split ..."):
        compared = {
            pick: evaluation_for(view.checkpoint_file(by_name[pick]), data, dataset)
            for pick in dict.fromkeys((first, second))
        }
except LabError as error:
    st.error(str(error))
    st.stop()
st.altair_chart(charts.per_class_accuracy(view.per_class_accuracy(compared)), width="stretch")
pair = view.histories(found, [first, second])
if pair[metric].notna().any():
    st.markdown(f"**Curves** ({view.METRICS[metric]})")
    st.altair_chart(charts.run_overlay(pair, metric), width="stretch")
lenses.compare(by_name[first], by_name[second], compared[first], compared[second], dataset)
