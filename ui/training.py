"""The Train page's pieces: the run config from its controls, the button callbacks that talk to
the job manager, and the rendering of a job's live state (shared with the sidebar)."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from lab import jobs
from lab.config import AugmentConfig, RunConfig
from lab.errors import ConfigError, LabError
from lab.jobs import JobSnapshot
from lab.presets import preset_config
from ui import charts, state
from ui.cache import data_store, job_manager

STATE_LABELS = {
    jobs.QUEUED: "Queued",
    jobs.RUNNING: "Training",
    jobs.PAUSED: "Paused",
    jobs.STOPPING: "Stopping",
    jobs.STOPPED: "Stopped",
    jobs.FINISHED: "Finished",
    jobs.FAILED: "Failed",
    jobs.CANCELLED: "Cancelled",
}
STATE_ICONS = {
    jobs.QUEUED: ":material/hourglass_top:",
    jobs.RUNNING: ":material/play_circle:",
    jobs.PAUSED: ":material/pause_circle:",
    jobs.STOPPING: ":material/stop_circle:",
    jobs.STOPPED: ":material/stop_circle:",
    jobs.FINISHED: ":material/check_circle:",
    jobs.FAILED: ":material/error:",
    jobs.CANCELLED: ":material/block:",
}
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


def build_run_config(values: dict, source: str, augment: AugmentConfig | None) -> RunConfig:
    """The run the Train controls describe: the preset, with the controls' values on top
    (``RunConfig.with_settings`` applies the rules that tie settings together)."""
    config = preset_config(values["preset"], source)
    if augment is not None:
        config = config.with_overrides(augment=asdict(augment))
    settings = {key: values[key] for key in SETTING_KEYS}
    if values["model"] != "alexnet_cifar":
        settings.pop("width")
    return config.with_settings(settings)


# The Train page's controls, by their key in lab.config.SETTINGS.
SETTING_KEYS = (
    "model",
    "width",
    "lr",
    "patience",
    "min_delta",
    "monitor",
    "epochs",
    "batch_size",
    "val_fraction",
    "seed",
    "subset",
)


def show_setting_error(container, setting: str) -> None:
    """The refused run's message under the control of ``setting``, when it is about it."""
    if state.train_error() and state.train_error_setting() == setting:
        container.error(state.train_error(), icon=":material/error:")


# --- button callbacks (they run before the page is drawn, so it shows the new state) ------------


def start() -> None:
    """Start button: check the run against the data and hand it to the job manager."""
    state.set_train_error(None)
    source = state.data_source()
    try:
        config = build_run_config(state.train_values(), source, state.train_augment())
        job_id = job_manager().submit(
            config,
            state.runs_dir(),
            name=state.train_values()["name"],
            dataset=data_store().load(source),
            owner=state.session_id(),
        )
    except ConfigError as error:
        state.set_train_error(str(error), error.setting)
        return
    except LabError as error:
        state.set_train_error(str(error))
        return
    except OSError as error:
        state.set_train_error(f"cannot create a run folder in {state.runs_dir()}: {error}")
        return
    state.set_job_id(job_id)


def pause() -> None:
    job_manager().pause(state.job_id(), by=state.session_id())


def resume() -> None:
    job_manager().resume(state.job_id(), by=state.session_id())


def stop() -> None:
    job_manager().stop(state.job_id(), by=state.session_id())


def watch(job_id: str) -> None:
    """Follow another job of this server on this tab (after a reload, say)."""
    state.set_job_id(job_id)


# --- rendering ---------------------------------------------------------------------------------


def current_snapshot() -> JobSnapshot | None:
    """The job this tab watches, marked as watched; None if there is none (any more)."""
    manager = job_manager()
    job_id = state.job_id()
    if not manager.has_job(job_id):
        return None
    return manager.snapshot(job_id)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_metric(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if name.endswith("_acc") else f"{value:.4f}"


def status_line(snap: JobSnapshot) -> str:
    """One line for the sidebar: state, epoch, best value."""
    label = f"{STATE_ICONS[snap.state]} **{STATE_LABELS[snap.state]}** `{snap.run_name}`"
    if snap.state == jobs.QUEUED and snap.queue_position:
        return f"{label}  \nposition {snap.queue_position} in the queue"
    parts = [f"epoch {snap.epoch} of {snap.epochs}"]
    if snap.best_value is not None:
        parts.append(f"best {format_metric(snap.monitor, snap.best_value)}")
    return f"{label}  \n{' · '.join(parts)}"


def progress_text(snap: JobSnapshot) -> str:
    if snap.state == jobs.QUEUED:
        return f"Waiting for a free training slot: position {snap.queue_position} in the queue"
    if snap.batches == 0 and not snap.history:
        return "Preparing the data and the model ..."
    last_epoch_done = len(snap.history) == snap.epochs or snap.patience_counter > snap.patience
    if snap.state == jobs.RUNNING and len(snap.history) == snap.epoch and last_epoch_done:
        return "Training done: scoring the best checkpoint on the test split ..."
    if snap.state == jobs.RUNNING and snap.batch == snap.batches and len(snap.history) < snap.epoch:
        return f"epoch {snap.epoch}/{snap.epochs}: evaluating ..."
    parts = [f"epoch {snap.epoch}/{snap.epochs}", f"batch {snap.batch}/{snap.batches}"]
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


def render_live(snap: JobSnapshot) -> None:
    """Progress, key numbers, the three charts and the epoch table of one job."""
    st.progress(snap.progress, text=progress_text(snap))
    if snap.reason and snap.state == jobs.PAUSED:
        st.caption(snap.reason)
    columns = st.columns(4)
    columns[0].metric("State", STATE_LABELS[snap.state])
    columns[1].metric(
        f"Best {snap.monitor}" + (f" (epoch {snap.best_epoch})" if snap.best_epoch else ""),
        format_metric(snap.monitor, snap.best_value),
    )
    columns[2].metric(
        "Patience used",
        f"{snap.patience_counter} of {snap.patience}",
        help="Epochs since the last improvement; the run stops when this exceeds the patience",
    )
    columns[3].metric("Images/s", f"{snap.images_per_s:,.0f}" if snap.images_per_s else "-")
    if snap.history:
        left, right = st.columns(2)
        for column, kind in ((left, "loss"), (right, "acc")):
            spec = epoch_chart_spec(
                snap.job_id, kind, len(snap.history), snap.best_epoch, snap.history
            )
            column.vega_lite_chart(spec, width="stretch")
    if snap.batch_losses:
        st.altair_chart(charts.batch_losses(snap.batch_losses), width="stretch")
    if snap.history:
        render_history_table(pd.DataFrame(list(snap.history)), snap.best_epoch)


def render_history_table(history: pd.DataFrame, best_epoch: int | None) -> None:
    shown = history.dropna(axis=1, how="all").set_index("epoch")
    formats = {column: fmt for column, fmt in HISTORY_FORMATS.items() if column in shown}
    styled = shown.style.format(formats, na_rep="-")
    if best_epoch in shown.index:
        styled = styled.highlight_between(
            subset=pd.IndexSlice[[best_epoch], :], color="rgba(76, 120, 168, 0.18)"
        )
    st.dataframe(styled, width="stretch")


def render_outcome(snap: JobSnapshot) -> None:
    """Why an ended run stopped, what it achieved, and where to look at it next."""
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
        st.error(f"Run `{snap.run_name}` failed: {snap.error}", icon=":material/error:")
    elif snap.diverged:
        st.error(
            f"Run `{snap.run_name}` diverged: {snap.reason}.{best} The best checkpoint is kept; "
            "a lower learning rate usually helps.",
            icon=":material/trending_up:",
        )
    elif snap.state == jobs.STOPPED:
        st.info(
            f"You stopped run `{snap.run_name}` after {epochs} completed epochs.{best} "
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
        state.set_focus_run(snap.run_name)
        st.switch_page("app_pages/4_checkpoints.py")
