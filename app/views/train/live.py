"""A job's live view on the Train page (its progress, key numbers, charts, epoch table and a
sweep's results so far) and, once it has ended, its outcome; and the other runs on the server,
each named with its student, any of which opens here read-only in the same live view."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, nav
from app.glossary import TERMS
from app.jobs import ANOTHER_SESSION, STATE_LABELS, format_metric, owner_label
from app.state import checkpoints, job
from app.views.train import format_duration
from app.widgets import error_box
from lab import jobs, sweep
from lab.jobs import JobSnapshot, SweepProgress

# What stands in for the epoch charts until the first epoch ends: a chart without rows is an
# empty frame (and Vega warns of an infinite extent).
NO_EPOCH_YET = "The loss and accuracy per epoch appear here when the first epoch ends."
# How each column of the epoch table is written.
HISTORY_FORMATS = {
    "train_loss": "{:.4f}",
    "val_loss": "{:.4f}",
    "test_loss": "{:.4f}",
    "train_acc": "{:.2%}",
    "val_acc": "{:.2%}",
    "test_acc": "{:.2%}",
    "lr": "{:.2e}",
    "seconds": "{:.1f}",
    "images_per_s": "{:,.0f}",
}


def sweep_step(progress: SweepProgress) -> str:
    """Which of the sweep's runs is training, as a prefix of its progress line."""
    if progress.current is None:
        return f"all {len(progress.runs)} runs trained · "
    return f"run {progress.done + 1} of {len(progress.runs)} ({progress.current}) · "


def progress_text(snap: JobSnapshot) -> str:
    if snap.state == jobs.QUEUED:
        return f"Waiting for a free training slot: position {snap.queue_position} in the queue"
    if snap.state == jobs.CANCELLED:
        return "Cancelled before it started: nothing was trained or saved"
    step = sweep_step(snap.sweep) if snap.sweep else ""
    if snap.batches == 0 and not snap.history:
        if snap.state == jobs.RUNNING:
            return f"{step}Preparing the data and the model ..."
        return f"{step}{STATE_LABELS[snap.state]} before its first batch"
    last_epoch_done = len(snap.history) == snap.epochs or snap.patience_counter > snap.patience
    if snap.state == jobs.RUNNING and len(snap.history) == snap.epoch and last_epoch_done:
        return f"{step}training done: scoring the best checkpoint on the test split ..."
    if snap.state == jobs.RUNNING and snap.batch == snap.batches and len(snap.history) < snap.epoch:
        return f"{step}epoch {snap.epoch}/{snap.epochs}: evaluating ..."
    parts = [f"{step}epoch {snap.epoch}/{snap.epochs}", f"batch {snap.batch}/{snap.batches}"]
    if snap.images_per_s:
        parts.append(f"{snap.images_per_s:,.0f} images/s")
    if snap.eta_s is not None:
        parts.append(f"ETA {format_duration(snap.eta_s)} at most")
    return " · ".join(parts)


@st.cache_data(show_spinner=False, max_entries=32)
def epoch_chart_spec(
    job_id: str, kind: str, epochs: int, best_epoch: int | None, _history: tuple[dict, ...]
) -> dict:
    """The per-epoch chart as a Vega-Lite spec, built once per finished epoch instead of on
    every poll: building an Altair chart costs tens of milliseconds of the CPU that trains."""
    return charts.epoch_curves(pd.DataFrame(list(_history)), kind, best_epoch).to_dict()


def render(snap: JobSnapshot) -> None:
    """Progress, whose job it is, why it is paused, key numbers, the three charts, the epoch
    table and a sweep's results so far."""
    st.progress(snap.progress, text=progress_text(snap))
    mine = snap.owned_by(job.owner())
    if not mine:
        st.info(f"`{snap.run_name}` was {ANOTHER_SESSION}", icon=":material/visibility:")
    if snap.reason and snap.state == jobs.PAUSED:
        how = (
            "Press **Resume** to go on where it was."
            if mine
            else "Only the session that started it can resume it."
        )
        st.warning(f"{snap.reason[0].upper()}{snap.reason[1:]}. {how}", icon=":material/pause:")
    columns = st.columns(4)
    columns[0].metric(
        "State",
        STATE_LABELS[snap.state],
        help="Queued: waiting for the training slot. Training, Paused (it can resume), "
        "Stopping; then Stopped (it can resume), Finished, Failed or Cancelled.",
    )
    columns[1].metric(
        f"Best {snap.monitor}" + (f" (epoch {snap.best_epoch})" if snap.best_epoch else ""),
        format_metric(snap.monitor, snap.best_value),
        help=f"{TERMS[snap.monitor]} {TERMS['best epoch']}",
    )
    columns[2].metric(
        "Patience used",
        f"{snap.patience_counter} of {snap.patience}",
        help="Epochs since the last improvement; the run stops when this exceeds the patience",
    )
    columns[3].metric(
        "Images/s",
        f"{snap.images_per_s:,.0f}" if snap.images_per_s else "-",
        help=TERMS["images_per_s"],
    )
    if snap.history:
        left, right = st.columns(2)
        for column, kind in ((left, "loss"), (right, "acc")):
            spec = epoch_chart_spec(
                snap.job_id, kind, len(snap.history), snap.best_epoch, snap.history
            )
            column.vega_lite_chart(spec, width="stretch")
    else:
        st.caption(NO_EPOCH_YET)
    if snap.batch_losses:
        st.altair_chart(charts.batch_losses(snap.batch_losses), width="stretch")
    if snap.history:
        render_history_table(pd.DataFrame(list(snap.history)), snap.best_epoch)
    if snap.sweep and snap.sweep.results:
        render_sweep_results(snap.sweep)


def column_help(columns, helps: dict[str, str]) -> dict:
    """The ``column_config`` that gives each of ``columns`` with a text in ``helps`` its help."""
    return {name: st.column_config.Column(help=helps[name]) for name in columns if name in helps}


def render_history_table(history: pd.DataFrame, best_epoch: int | None) -> None:
    shown = history.dropna(axis=1, how="all").set_index("epoch")
    formats = {column: fmt for column, fmt in HISTORY_FORMATS.items() if column in shown}
    styled = shown.style.format(formats, na_rep="-")
    if best_epoch in shown.index:
        styled = styled.highlight_between(
            subset=pd.IndexSlice[[best_epoch], :], color="rgba(76, 120, 168, 0.18)"
        )
    st.dataframe(styled, width="stretch", column_config=column_help(shown.columns, TERMS))


# What each column of a sweep's results says.
SWEEP_COLUMNS = {
    "lr": "The learning rate of this combination.",
    "patience": TERMS["patience"],
    "trained": "Trained (with the largest patience), or replayed from that run's history.",
    "stop_epoch": "The epoch early stopping ends the run after with this patience (empty: it "
    "would not stop early).",
    "best_epoch": TERMS["best epoch"],
    "best_val_acc": f"{TERMS['val_acc']} At the best epoch.",
    "test_acc": TERMS["test_acc"],
    "minutes": "Training time; a replayed patience counts its share of the trained run's time.",
}


def best_result(progress: SweepProgress) -> dict | None:
    """The combination with the best validation accuracy so far."""
    scored = [result for result in progress.results if result["best_val_acc"] is not None]
    return max(scored, key=lambda result: result["best_val_acc"], default=None)


def render_sweep_results(progress: SweepProgress) -> None:
    """One row per combination done so far, the best one marked."""
    frame = sweep.results_frame({"results": list(progress.results)})[list(SWEEP_COLUMNS)]
    styled = frame.style.format(
        {"lr": "{:.1e}", "best_val_acc": "{:.2%}", "test_acc": "{:.2%}", "minutes": "{:.1f}"},
        na_rep="-",
    )
    best = best_result(progress)
    if best is not None:
        row = progress.results.index(best)
        styled = styled.highlight_between(
            subset=pd.IndexSlice[[row], :], color="rgba(76, 120, 168, 0.18)"
        )
    st.markdown("**The sweep's combinations so far** (the best one highlighted)")
    st.dataframe(
        styled, hide_index=True, width="stretch", column_config=column_help(frame, SWEEP_COLUMNS)
    )


def render_outcome(snap: JobSnapshot) -> None:
    """Why an ended run (or sweep) stopped, what it achieved, and where to look at it next."""
    if snap.state == jobs.CANCELLED:
        st.info(
            f"`{snap.run_name}` was cancelled before it started: it left nothing in the runs "
            "folder, and there is nothing to resume.",
            icon=":material/block:",
        )
        return
    if snap.sweep:
        render_sweep_outcome(snap)
        return
    epochs = len(snap.history)
    best = (
        f" Best {snap.monitor} {format_metric(snap.monitor, snap.best_value)} at epoch "
        f"{snap.best_epoch}."
        if snap.best_epoch
        else ""
    )
    test_acc = snap.metrics.get("test_acc")
    test = f" Test accuracy of the best checkpoint: {test_acc:.2%}." if test_acc is not None else ""
    if snap.state == jobs.FAILED:
        error_box(st, f"Run `{snap.run_name}` failed: {snap.error}")
    elif snap.diverged:
        st.error(
            f"Run `{snap.run_name}` diverged: {snap.reason}.{best} The best checkpoint is kept; "
            "a lower learning rate usually helps.",
            icon=":material/trending_up:",
        )
    elif snap.state == jobs.STOPPED:
        st.info(
            f"{stopped_by(snap)} run `{snap.run_name}` after {epochs} completed epochs.{best} "
            "Resume continues from the last completed epoch.",
            icon=":material/stop_circle:",
        )
    else:
        st.success(
            f"Run `{snap.run_name}` {snap.reason}.{best}{test}", icon=":material/check_circle:"
        )
    if epochs and st.button(
        f"Open `{snap.run_name}` on the Checkpoints page",
        icon=":material/leaderboard:",
        help="Its curves beside other runs, confusion matrix, per-class accuracy",
    ):
        checkpoints.open_run(snap.run_name)
        nav.switch_to(nav.CHECKPOINTS)


def stopped_by(snap: JobSnapshot) -> str:
    return "You stopped" if snap.owned_by(job.owner()) else "The session that started it stopped"


def render_sweep_outcome(snap: JobSnapshot) -> None:
    """How a sweep ended and its best combination."""
    progress, name = snap.sweep, snap.run_name
    best = best_result(progress)
    lead = "Best" if snap.state == jobs.FINISHED else "Best so far"
    found = (
        f" {lead}: lr {best['lr']:g} with patience {best['patience']}, validation accuracy "
        f"{best['best_val_acc']:.2%}"
        + (f", test accuracy {best['test_acc']:.2%}." if best["test_acc"] is not None else ".")
        if best
        else ""
    )
    if snap.state == jobs.FAILED:
        error_box(st, f"Sweep `{name}` failed: {snap.error}")
    elif snap.state == jobs.STOPPED:
        st.info(
            f"{stopped_by(snap)} sweep `{name}` after {progress.done} of {len(progress.runs)} runs."
            f"{found} Resume goes on with the run it stopped in.",
            icon=":material/stop_circle:",
        )
    else:
        st.success(f"Sweep `{name}` {snap.reason}.{found}", icon=":material/check_circle:")


def classmate_line(snap: JobSnapshot) -> str:
    """One line about another run on the server: whose, which, its state, its epoch and how
    far it has come."""
    parts = [f"**{owner_label(snap)}**", f"`{snap.run_name}`", STATE_LABELS[snap.state]]
    if snap.sweep:
        parts.append(sweep_step(snap.sweep).removesuffix(" · "))
    if snap.state != jobs.QUEUED:
        parts.append(f"epoch {snap.epoch} of {snap.epochs}, {snap.progress:.0%} done")
    if snap.best_value is not None:
        parts.append(f"best {snap.monitor} {format_metric(snap.monitor, snap.best_value)}")
    return " · ".join(parts)


def render_classmates(others: list[JobSnapshot]) -> None:
    """The other runs on the server, each with its student, state, epoch and progress and a
    button that opens it here, read-only, in the live view (only its owner controls it). Their
    progress is words, not bars: the first bar of the page stays this tab's own run's."""
    if not others:
        return
    opened = job.viewing()
    with st.container(border=True):
        st.markdown(f"**Other runs on this server** ({len(others)})")
        for other in others:
            is_open = other.job_id == opened
            words, action = st.columns([8, 1], vertical_alignment="center")
            words.markdown(classmate_line(other))
            action.button(
                "Close" if is_open else "Open",
                key=f"classmate-{other.job_id}",
                icon=":material/visibility_off:" if is_open else ":material/visibility:",
                on_click=job.view,
                args=(None if is_open else other.job_id,),
                help="Its live charts here, read-only: only the browser that started it can "
                "pause, resume or stop it.",
            )
        shown = next((other for other in others if other.job_id == opened), None)
        if shown is not None:
            render(shown)
