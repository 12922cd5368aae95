"""The Train page's pieces: the settings form (built from the declaration, locked to the active
run's settings while it trains), its check as the user changes it, the buttons that talk to the
job manager, a job's live view and outcome, the model anatomy and the learning-rate finder."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import streamlit as st
import torch

from app import cache, charts, nav
from app.cache import data_store, job_manager
from app.jobs import STATE_LABELS, format_metric, others_active
from app.settings import control, control_value
from app.state import checkpoints, job, source
from app.state import train as train_state
from app.state.store import STORED
from app.state.train import FORM
from lab import jobs
from lab.config import INPUT_SIZES, RESIZE_CHOICES, SETTINGS, RunConfig
from lab.data import Dataset, make_splits
from lab.errors import ConfigError, LabError
from lab.jobs import JobSnapshot
from lab.lenses.lr_finder import LrFinderResult, find_lr
from lab.presets import PRESET_NAMES
from lab.train import check_batch_size

# The settings the Train page offers, in the form's order: keys of lab.config.SETTINGS. A
# setting declared in lab.config appears on the page once it is named here.
SHOWN = (
    "model",
    "width",
    "lr",
    "epochs",
    "batch_size",
    "val_fraction",
    "monitor",
    "patience",
    "min_delta",
    "seed",
    "subset",
)
FORM_COLUMNS = 4
PRESET_HELP = (
    "notebook: the course's AlexNet at 227 px, exactly as the notebook trained it. cpu-fast: an "
    "AlexNet-family network at the native 32 px, minutes on a CPU. Choosing one sets every "
    "setting below."
)
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
# The learning-rate finder: steps of the range test and training images it cycles over.
LR_FINDER_STEPS = 60
LR_FINDER_IMAGES = 2000


# --- the form ----------------------------------------------------------------------------------


def check(
    keys: Sequence[str], data: str, dataset: Dataset
) -> tuple[RunConfig | None, LabError | None]:
    """The run the form describes, checked as Start would check it: (the config, None), or
    (None, why Start would refuse it). A refused Start is reported too, with its config, until
    the form changes."""
    try:
        config = train_state.run_config(keys, data)
        generation = data_store().generation(data)
        train_images = cache.training_split_size(data, generation, config.data, dataset)
        if isinstance(train_images, ConfigError):
            raise train_images
        check_batch_size(config.train.batch_size, train_images)
    except ConfigError as error:
        return None, error
    return config, train_state.start_error()


def settings_form(keys: Sequence[str], running: JobSnapshot | None, problem: LabError | None):
    """The preset, the run name and the settings ``keys``, each with its help; a problem that
    is about one of them is shown beneath it. While ``running`` is active the form shows its
    settings, locked, and the user's own come back once it has ended."""
    locked = running is not None
    values = running.config.settings() if locked else {}
    model = values.get("model", FORM["model"])
    rows = math.ceil((len(keys) + 2) / FORM_COLUMNS)
    cells = [cell for _ in range(rows) for cell in st.columns(FORM_COLUMNS)]
    cells[0].selectbox(
        "Preset",
        PRESET_NAMES,
        help=PRESET_HELP,
        disabled=locked,
        **FORM.widget(
            "preset", running.config.preset if locked else STORED, train_state.apply_preset
        ),
    )
    cells[1].text_input(
        "Run name",
        placeholder="automatic",
        help="The run's folder in the runs folder; empty: the preset's name and a number",
        disabled=locked,
        **FORM.widget("name", running.run_name if locked else STORED),
    )
    for cell, key in zip(cells[2:], keys, strict=False):
        setting = SETTINGS[key]
        shown = control_value(setting, values[key]) if locked else FORM[key]
        disabled = locked or not setting.applies_to(model)
        control(cell, setting, FORM, shown=shown, disabled=disabled)
        if problem is not None and getattr(problem, "setting", None) == key:
            cell.error(str(problem), icon=":material/error:")
    if problem is not None and getattr(problem, "setting", None) not in keys:
        st.error(str(problem), icon=":material/error:")
    if locked:
        st.caption(f"The settings of run `{running.run_name}`, locked while it is active.")
    notes(model)


def notes(model: str) -> None:
    """What the form does not show: the augmentation in use, and a warning for slow choices."""
    if model == "alexnet" and cache.inference_device().type == "cpu":
        st.caption(
            ":material/warning: alexnet sees 227 px images: on a CPU an epoch of the full data "
            "takes hours. cpu-fast, or a few thousand training images, keeps it to minutes."
        )
    if train_state.augment() is None:
        st.caption("Augmentation: the preset's. Tune one on the Augmentations page.")
        return
    st.caption("Augmentation: the one made on the Augmentations page.")
    st.button("Use the preset's augmentation", on_click=train_state.set_augment, args=(None,))


# --- the buttons (their callbacks run before the page is drawn, so it shows the new state) -----


def buttons(keys: Sequence[str], snap: JobSnapshot | None, startable: bool) -> None:
    """Start, Pause, Resume and Stop, each enabled when it applies to this tab's job."""
    active = snap is not None and snap.active
    mine = snap is None or snap.owned_by(job.session_id())
    row = st.columns([1, 1, 1, 1, 3])
    row[0].button(
        "Start",
        type="primary",
        icon=":material/play_arrow:",
        on_click=start,
        args=(keys,),
        disabled=active or not startable,
        width="stretch",
    )
    row[1].button(
        "Pause",
        icon=":material/pause:",
        on_click=pause,
        disabled=not (mine and snap and snap.state in (jobs.RUNNING, jobs.QUEUED)),
        width="stretch",
    )
    row[2].button(
        "Resume",
        icon=":material/resume:",
        on_click=resume,
        disabled=not (mine and snap and snap.resumable),
        width="stretch",
    )
    row[3].button(
        "Stop",
        icon=":material/stop:",
        on_click=stop,
        disabled=not (mine and active),
        width="stretch",
    )
    if not mine:
        row[4].caption("Started in another browser tab: you can watch it, not change it.")


def start(keys: Sequence[str]) -> None:
    """Start button: check the run against the data and hand it to the job manager."""
    train_state.set_start_error(None)
    data = source.data_source()
    try:
        job_id = job_manager().submit(
            train_state.run_config(keys, data),
            source.runs_dir(),
            name=train_state.run_name(),
            dataset=data_store().load(data),
            owner=job.session_id(),
        )
    except LabError as error:
        train_state.set_start_error(error)
        return
    except OSError as error:
        where = source.runs_dir()
        train_state.set_start_error(LabError(f"cannot create a run folder in {where}: {error}"))
        return
    job.watch(job_id)


def pause() -> None:
    job_manager().pause(job.job_id(), by=job.session_id())


def resume() -> None:
    job_manager().resume(job.job_id(), by=job.session_id())


def stop() -> None:
    job_manager().stop(job.job_id(), by=job.session_id())


def no_job() -> None:
    """What the page says before this tab has a job, with the server's active jobs to watch."""
    st.info("Set up a run and press **Start**. It trains in the background: you can switch pages.")
    for other in others_active(None):
        st.button(
            f"Watch {other.run_name} ({other.state})", on_click=job.watch, args=(other.job_id,)
        )


# --- a job's live state and outcome --------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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
        checkpoints.open_run(snap.run_name)
        nav.switch_to(nav.CHECKPOINTS)


# --- the expanders -----------------------------------------------------------------------------


def anatomy(model: str, width: float, num_classes: int) -> None:
    """The layer table and totals of the chosen model at a chosen input size."""
    own = INPUT_SIZES[model]
    size = st.select_slider(
        "Input size (px)",
        (0, *RESIZE_CHOICES),
        format_func=lambda s: f"its own ({own})" if s == 0 else str(s),
        **FORM.widget("anatomy_size"),
    )
    result = cache.anatomy(
        model, width if SETTINGS["width"].applies_to(model) else 1.0, size or own, num_classes
    )
    if result.problem:
        st.error(f"This input cannot work: {result.problem}", icon=":material/error:")
        return
    c = st.columns(3)
    c[0].metric("Parameters", f"{result.params:,}")
    c[1].metric("Weights", f"{result.weights_mb:.1f} MB")
    c[2].metric("FLOPs per image", f"{result.flops / 1e6:,.1f} M")
    st.dataframe(
        result.layers,
        hide_index=True,
        width="stretch",
        column_config={
            "params": st.column_config.NumberColumn(format="localized"),
            "flops": st.column_config.NumberColumn(format="localized"),
        },
    )


def lr_finder(
    config: RunConfig | None,
    problem: LabError | None,
    dataset: Dataset,
    device: torch.device,
    disabled: bool,
) -> None:
    """The learning-rate range test for the run the form describes, on a small subset, with
    a button that moves the Learning rate slider to its suggestion."""
    if config is None:
        st.caption(f"Fix the settings first: {problem}")
        return
    images = min(LR_FINDER_IMAGES, len(dataset.train))
    st.caption(
        f"Trains a fresh {config.model.name} for {LR_FINDER_STEPS} batches of "
        f"{config.train.batch_size} ({images} training images) while the learning rate grows "
        "from 1e-7 to 10, and plots the loss. Nothing is saved."
    )
    # The result depends on everything but the learning rate (the test sets its own).
    settings = config.to_dict()
    settings["train"].pop("lr", None)
    for_what = (repr(settings), images)
    if st.button("Find a learning rate", icon=":material/search:", disabled=disabled):
        progress = st.progress(0.0, text="Range test ...")

        def on_step(step: int, steps: int, lr: float, loss: float) -> None:
            progress.progress(
                step / steps, text=f"step {step}/{steps}: lr {lr:.1e}, loss {loss:.3f}"
            )

        try:
            small = config.with_overrides(data={"subset": images})
            splits = make_splits(dataset, small.data)
            result = find_lr(small, splits, steps=LR_FINDER_STEPS, device=device, on_step=on_step)
        except LabError as error:
            st.error(str(error))
            return
        finally:
            progress.empty()
        train_state.set_lr_finder_result(for_what, result)
    result: LrFinderResult | None = train_state.lr_finder_result(for_what)
    if result is None:
        return
    st.altair_chart(charts.lr_finder(result.frame(), result.suggested_lr), width="stretch")
    st.caption(result.reason)
    if result.suggested_lr is None:
        st.caption("Too few steps to suggest a rate.")
        return
    st.markdown(f"Suggested learning rate: **{result.suggested_lr:.2e}**")
    st.button(
        "Use this learning rate",
        on_click=train_state.use_learning_rate,
        args=(result.suggested_lr,),
        disabled=disabled,
    )
