"""Checkpoints: every run in the runs folder, their curves overlaid, one run's training dynamics
(patience what-if, generalisation gap), its confusion matrix, per-class scores, calibration,
errors and robustness, two runs side by side, run card export, download and delete."""

import streamlit as st

from lab.errors import LabError
from lab.runs import list_runs
from ui import charts, insight_view, runs_view, state
from ui.cache import evaluation_for
from ui.data import require_dataset

st.title("Checkpoints", anchor=False)
runs_dir = state.runs_dir()
found = list_runs(runs_dir)
message = state.runs_message()
if message:
    (st.error if message[0] == "error" else st.success)(message[1])
    state.set_runs_message(None)
if not found:
    st.info(
        f"No runs in `{runs_dir}` yet. Train one on the Train page (the **cpu-fast** preset takes "
        "minutes), or run `cifar-lab train --preset cpu-fast`; its checkpoints appear here."
    )
    st.page_link(
        "app_pages/3_train.py", label="Go to the Train page", icon=":material/model_training:"
    )
    st.stop()
by_name = {run.name: run for run in found}
names = list(by_name)

st.dataframe(
    runs_view.runs_table(found),
    width="stretch",
    column_config={
        "lr": st.column_config.NumberColumn(format="%.0e"),
        "best val acc": st.column_config.NumberColumn(format="percent"),
        "test acc": st.column_config.NumberColumn(format="percent"),
        "wall time (min)": st.column_config.NumberColumn(format="%.1f"),
    },
)

st.subheader("Curves", anchor=False)
state.ensure_choices(state.CKPT_OVERLAY, names, names[:3])
left, right = st.columns([3, 1])
overlay = left.multiselect("Runs to overlay", names, key=state.CKPT_OVERLAY)
metric = right.selectbox(
    "Metric", list(runs_view.METRICS), format_func=runs_view.METRICS.get, key=state.CKPT_METRIC
)
curves = runs_view.histories(found, overlay)
if curves[metric].notna().any():
    st.altair_chart(charts.run_overlay(curves, metric), width="stretch")
else:
    st.caption(f"None of the selected runs recorded {runs_view.METRICS[metric]}.")

st.subheader("One run", anchor=False)
state.show_focus_run(state.CKPT_DETAIL, names)
state.ensure_choice(state.CKPT_DETAIL, names, runs_view.best_run(found))
name = st.selectbox("Run", names, key=state.CKPT_DETAIL)
run = by_name[name]
checkpoint = runs_view.checkpoint_file(run)
status = runs_view.run_status(run)
actions = st.container(horizontal=True)
actions.download_button(
    f"Download {checkpoint.name}",
    checkpoint.read_bytes,
    file_name=f"{name}-{checkpoint.name}",
    mime="application/octet-stream",
    icon=":material/download:",
    on_click="ignore",
)
if status.startswith("interrupted") or status == "stopped by user":
    actions.button(
        "Resume training", icon=":material/resume:", on_click=runs_view.resume, args=(run,)
    )
actions.button("Delete run", icon=":material/delete:", on_click=runs_view.ask_delete, args=(name,))
if state.pending_delete() == name:
    with st.container(border=True):
        st.warning(f"Delete `{run.path}` with all its checkpoints? This cannot be undone.")
        yes, no = st.columns([1, 4])
        yes.button("Yes, delete", type="primary", on_click=runs_view.delete, args=(run,))
        no.button("Cancel", on_click=runs_view.cancel_delete)

with st.expander("Training dynamics: patience what-if and generalisation gap", expanded=True):
    insight_view.training_dynamics(run)

evaluate = st.toggle(
    "Evaluate on the test split (confusion matrix and per-class accuracy; computed once per "
    "checkpoint, which takes minutes for the 227 px model on a CPU)",
    key=state.CKPT_EVALUATE,
)
if not evaluate:
    st.stop()
dataset = require_dataset("evaluate runs on the test split")
if dataset is None:
    st.stop()
source = state.data_source()
try:
    with st.spinner(f"Evaluating {name} on {len(dataset.test):,} test images ..."):
        evaluation = evaluation_for(checkpoint, source, dataset)
except LabError as error:
    st.error(str(error))
    st.stop()
normalized = st.toggle("Normalise rows (share of each true class)", key=state.CKPT_NORMALIZE)
left, right = st.columns(2)
left.markdown(f"**Confusion matrix** · test accuracy {evaluation.accuracy:.2%}")
left.altair_chart(
    charts.confusion(evaluation.confusion(normalized), evaluation.classes, normalized),
    width="stretch",
)
right.markdown("**Accuracy per class**")
right.altair_chart(
    charts.per_class_accuracy(runs_view.per_class_accuracy({name: evaluation})), width="stretch"
)
insight_view.error_analysis(checkpoint, source, evaluation, dataset)
insight_view.run_card(run, evaluation)
insight_view.robustness(checkpoint, source, dataset)

st.subheader("Two runs per class", anchor=False)
state.ensure_choice(state.CKPT_COMPARE_A, names, name)
state.ensure_choice(state.CKPT_COMPARE_B, names, names[1] if len(names) > 1 else name)
left, right = st.columns(2)
first = left.selectbox("First run", names, key=state.CKPT_COMPARE_A)
second = right.selectbox("Second run", names, key=state.CKPT_COMPARE_B)
try:
    with st.spinner("Evaluating on the test split ..."):
        compared = {
            pick: evaluation_for(runs_view.checkpoint_file(by_name[pick]), source, dataset)
            for pick in dict.fromkeys((first, second))
        }
except LabError as error:
    st.error(str(error))
    st.stop()
st.altair_chart(charts.per_class_accuracy(runs_view.per_class_accuracy(compared)), width="stretch")
pair = runs_view.histories(found, [first, second])
if pair[metric].notna().any():
    st.markdown(f"**Curves** ({runs_view.METRICS[metric]})")
    st.altair_chart(charts.run_overlay(pair, metric), width="stretch")
insight_view.compare(by_name[first], by_name[second], compared[first], compared[second], dataset)
