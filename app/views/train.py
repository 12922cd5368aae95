"""The Train page's pieces: the settings form (built from the declaration, locked to the active
job's settings while it trains; one run, or a sweep of several learning rates and patience
values), its check as the user changes it, the sweep's size and duration, the buttons that talk
to the job manager, a job's live view and outcome, the model anatomy and the learning-rate
finder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st
import torch

from app import cache, charts, nav
from app.cache import data_store, job_manager
from app.glossary import TERMS
from app.jobs import ANOTHER_SESSION, STATE_LABELS, format_metric, others_active
from app.settings import control, control_value
from app.state import checkpoints, job, source
from app.state import train as train_state
from app.state.store import STORED
from app.state.train import FORM, RUN, SWEEP, SWEPT, sweep_field
from lab import jobs, sweep
from lab.config import INPUT_SIZES, RESIZE_CHOICES, SETTINGS, RunConfig
from lab.data import Dataset, make_splits
from lab.errors import ConfigError, LabError
from lab.jobs import JobSnapshot, SweepProgress
from lab.lenses.lr_finder import LrFinderResult, find_lr
from lab.presets import PRESET_NAMES
from lab.runs import list_runs, read_history
from lab.train import check_batch_size

# The settings the Train page offers, in the form's order: keys of lab.config.SETTINGS. A
# setting declared in lab.config appears on the page once it is named here.
SHOWN = (
    "model",
    "width",
    "lr",
    "epochs",
    "batch_size",
    "progressive_from",
    "val_fraction",
    "monitor",
    "patience",
    "min_delta",
    "seed",
    "subset",
)
FORM_COLUMNS = 4
# Pixels of each of Start, Pause, Resume and Stop: room for the longest label and its icon.
BUTTON_WIDTH = 120
PRESET_HELP = (
    "notebook: the course's AlexNet at 227 px, exactly as the notebook trained it. cpu-fast: an "
    "AlexNet-family network at the native 32 px, minutes on a CPU. Choosing one sets every "
    "setting below."
)
MODES = {RUN: "One run", SWEEP: "A sweep: several learning rates and patience values"}
# What several values of a swept setting do, beneath its help.
SWEEP_HELP = {
    "lr": "Several values, separated by commas: one run trains for each.",
    "patience": "Several values, separated by commas: each run trains with the largest, and "
    "the smaller ones are replayed from its history, not trained again.",
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
# The learning-rate finder: steps of the range test and training images it cycles over.
LR_FINDER_STEPS = 60
LR_FINDER_IMAGES = 2000


# --- the form ----------------------------------------------------------------------------------


def check(
    keys: Sequence[str], data: str, dataset: Dataset
) -> tuple[RunConfig | None, dict | None, int | None, LabError | None]:
    """What the form describes, checked as Start would check it: (the run's config, the sweep's
    values or None for one run, the training images, None), or (None, None, None, why Start would
    refuse it). A refused Start is reported too, with its config, until the form changes."""
    try:
        config, grid = train_state.planned(keys, data)
        generation = data_store().generation(data)
        train_images = cache.training_split_size(data, generation, config.data, dataset)
        if isinstance(train_images, ConfigError):
            raise train_images
        check_batch_size(config.train.batch_size, train_images)
    except ConfigError as error:
        return None, None, None, error
    return config, grid, train_images, train_state.start_error()


def mode_choice(running: JobSnapshot | None) -> str:
    """One run or a sweep; locked to the kind of the active job while there is one."""
    locked = running is not None
    shown = (SWEEP if running.sweep else RUN) if locked else STORED
    return st.segmented_control(
        "Train",
        tuple(MODES),
        format_func=MODES.get,
        required=True,
        disabled=locked,
        label_visibility="collapsed",
        **FORM.widget("mode", shown),
    )


def sweep_values(values: Sequence[float]) -> str:
    return ", ".join(f"{value:g}" for value in values)


def settings_form(
    keys: Sequence[str], mode: str, running: JobSnapshot | None, problem: LabError | None
):
    """The preset, the run name and the settings ``keys``, each with its help; in the sweep
    mode the swept settings take several values. A problem that is about one of them is shown
    beneath it. While ``running`` is active the form shows its settings, locked, and the
    user's own come back once it has ended."""
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
        "Sweep name" if mode == SWEEP else "Run name",
        placeholder="automatic",
        help="The folder in the runs folder; empty: the preset's name (or sweep) and a time",
        disabled=locked,
        **FORM.widget("name", running.run_name if locked else STORED),
    )
    for cell, key in zip(cells[2:], keys, strict=False):
        setting = SETTINGS[key]
        if mode == SWEEP and key in SWEPT:
            shown = sweep_values(running.sweep.grid[key]) if locked else STORED
            cell.text_input(
                f"{setting.spec.label} (several)",
                help=f"{setting.describe()} {SWEEP_HELP[key]}",
                disabled=locked,
                **FORM.widget(sweep_field(key), shown),
            )
        else:
            shown = control_value(setting, values[key]) if locked else FORM[key]
            disabled = locked or not setting.applies_to(model)
            control(cell, setting, FORM, shown=shown, disabled=disabled)
        if problem is not None and getattr(problem, "setting", None) == key:
            cell.error(str(problem), icon=":material/error:")
    if problem is not None and getattr(problem, "setting", None) not in keys:
        st.error(str(problem), icon=":material/error:")
    if locked:
        st.caption(f"The settings of `{running.run_name}`, locked while it is active.")
    notes(model)


# --- the sweep's size and duration -------------------------------------------------------------


@st.cache_data(show_spinner=False, ttl=60, max_entries=16)
def measured_speed(runs_dir: str, model: str, width: float, progressive_from: int) -> float | None:
    """Training images per second that the newest run of ``model`` (at ``width``, with the same
    progressive resizing) in ``runs_dir`` or one of its sweeps reached on this machine, the
    median over its epochs; None before any has trained. Kept a minute: the runs folder is
    read again after that."""
    here = Path(runs_dir)
    swept = here.glob(f"*/{sweep.SWEEP_FILE}")
    found = list_runs(here) + [run for file in swept for run in list_runs(file.parent)]
    for run in sorted(found, key=lambda run: -run.modified):
        built = run.config.get("model", {})
        trained = run.config.get("train", {})
        if (
            built.get("name") != model
            or (SETTINGS["width"].applies_to(model) and built.get("width") != width)
            or trained.get("progressive_from", 0) != progressive_from
        ):
            continue
        speeds = read_history(run.path)["images_per_s"].dropna()
        if len(speeds):
            return float(speeds.median())
    return None


def sweep_plan(config: RunConfig, grid: dict, train_images: int, runs_dir: Path) -> None:
    """How many runs the sweep makes, that smaller patience values are replayed, and roughly
    how long it takes at the speed runs of this model reached here."""
    trained = len(grid["lr"])
    text = sweep.describe({"runs": [None] * trained, "grid": grid})
    progressive = config.train.progressive_from
    speed = measured_speed(str(runs_dir), config.model.name, config.model.width, progressive)
    epochs = config.train.epochs
    if speed is None:
        model = config.model.name
        if SETTINGS["width"].applies_to(model):
            model += f" at width {config.model.width:g}"
        if progressive:
            model += f" with progressive resizing from {progressive} px"
        how_long = (
            f"No run of {model} has trained in this runs folder yet, so there is no speed to "
            "estimate the time from: one short run gives it."
        )
    else:
        seconds = trained * epochs * train_images / speed
        how_long = (
            f"At most about {format_duration(seconds)}: {trained} × {epochs} epochs of "
            f"{train_images:,} images at {speed:,.0f} images/s (measured here); early stopping "
            "may end runs sooner."
        )
    st.info(f"**{text[0].upper()}{text[1:]}.** {how_long}", icon=":material/grid_view:")
    if config.preset != train_state.SWEEP_PRESET:
        st.button(
            f"Use the one-minute preset ({train_state.SWEEP_PRESET})",
            icon=":material/bolt:",
            on_click=train_state.use_sweep_preset,
            help="A sweep trains several runs: this preset's runs take under a minute each on "
            "two CPU cores (about 63% test accuracy), and the learning rates to try are set "
            "around its own.",
        )


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
    """Start, Pause, Resume and Stop, each enabled when it applies to this tab's job: only the
    session that started a job may pause, resume or stop it."""
    active = snap is not None and snap.active
    mine = snap is None or snap.owned_by(job.session_id())
    why_not = None if mine else ANOTHER_SESSION
    # A row that wraps rather than cuts a label when the window is narrow.
    row = st.container(horizontal=True)
    row.button(
        "Start",
        type="primary",
        icon=":material/play_arrow:",
        on_click=start,
        args=(keys,),
        disabled=active or not startable,
        width=BUTTON_WIDTH,
    )
    row.button(
        "Pause",
        icon=":material/pause:",
        on_click=pause,
        help=why_not,
        disabled=not (mine and snap and snap.state in (jobs.RUNNING, jobs.QUEUED)),
        width=BUTTON_WIDTH,
    )
    row.button(
        "Resume",
        icon=":material/resume:",
        on_click=resume,
        help=why_not,
        disabled=not (mine and snap and snap.resumable),
        width=BUTTON_WIDTH,
    )
    row.button(
        "Stop",
        icon=":material/stop:",
        on_click=stop,
        help=why_not,
        disabled=not (mine and active),
        width=BUTTON_WIDTH,
    )


def start(keys: Sequence[str]) -> None:
    """Start button: check the run (or the sweep) against the data and hand it to the job
    manager."""
    train_state.set_start_error(None)
    data = source.data_source()
    manager, owner = job_manager(), job.session_id()
    try:
        config, grid = train_state.planned(keys, data)
        dataset = data_store().load(data)
        name = train_state.run_name()
        if grid is None:
            job_id = manager.submit(
                config, source.runs_dir(), name=name, dataset=dataset, owner=owner
            )
        else:
            sweep_dir = sweep.create_sweep(config, grid, source.runs_dir(), name=name, owner=owner)
            job_id = manager.submit_sweep(sweep_dir, dataset=dataset, owner=owner)
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
    st.info(
        "Set up a run (or a sweep) and press **Start**. It trains in the background: you can "
        "switch pages."
    )
    for other in others_active(None):
        st.button(
            f"Watch {other.run_name} ({STATE_LABELS[other.state].lower()})",
            on_click=job.watch,
            args=(other.job_id,),
            help="Follow its progress here, read-only: only the session that started it can "
            "pause, resume or stop it.",
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


def render_live(snap: JobSnapshot) -> None:
    """Progress, whose job it is, why it is paused, key numbers, the three charts, the epoch
    table and a sweep's results so far."""
    st.progress(snap.progress, text=progress_text(snap))
    mine = snap.owned_by(job.session_id())
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
        st.error(f"Run `{snap.run_name}` failed: {snap.error}", icon=":material/error:")
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
    return (
        "You stopped" if snap.owned_by(job.session_id()) else "The session that started it stopped"
    )


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
        st.error(f"Sweep `{name}` failed: {snap.error}", icon=":material/error:")
    elif snap.state == jobs.STOPPED:
        st.info(
            f"{stopped_by(snap)} sweep `{name}` after {progress.done} of {len(progress.runs)} runs."
            f"{found} Resume goes on with the run it stopped in.",
            icon=":material/stop_circle:",
        )
    else:
        st.success(f"Sweep `{name}` {snap.reason}.{found}", icon=":material/check_circle:")


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
    c[0].metric("Parameters", f"{result.params:,}", help=TERMS["parameters"])
    c[1].metric(
        "Weights", f"{result.weights_mb:.1f} MB", help="Memory the parameters take (32-bit)"
    )
    c[2].metric("FLOPs per image", f"{result.flops / 1e6:,.1f} M", help=TERMS["FLOPs"])
    st.dataframe(
        result.layers,
        hide_index=True,
        width="stretch",
        column_config={
            "output_shape": st.column_config.Column(
                help="Channels × height × width of what the layer hands on, for one image"
            ),
            "params": st.column_config.NumberColumn(format="localized", help=TERMS["parameters"]),
            "flops": st.column_config.NumberColumn(format="localized", help=TERMS["FLOPs"]),
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
    st.altair_chart(lr_finder_chart(result), width="stretch")
    st.caption(
        f"{result.reason[0].upper()}{result.reason[1:]}. The plot leaves out the steps after the "
        "loss exploded and stops the loss axis at a few times its lowest value."
    )
    if result.suggested_lr is None:
        st.caption("Too few steps to suggest a rate.")
        return
    chosen = SETTINGS["lr"].nearest_option(result.suggested_lr)
    snapped = (
        f"{format_rate(result.suggested_lr)} snapped to {format_rate(chosen)}, the nearest value "
        "of the Learning rate slider"
    )
    st.markdown(
        f"Suggested learning rate: **{format_rate(result.suggested_lr)}**, where the smoothed "
        f"loss falls fastest ({snapped})."
    )
    in_use = FORM["lr"] == chosen
    st.button(
        f"Use {format_rate(chosen)}",
        on_click=train_state.use_learning_rate,
        args=(chosen,),
        disabled=disabled or in_use,
        help=f"Set the Learning rate slider to {format_rate(chosen)} ({snapped})",
    )
    if in_use:
        st.caption(f"The Learning rate slider is at {format_rate(chosen)}.")


def format_rate(lr: float) -> str:
    """A learning rate as people write it: 1.6e-3."""
    mantissa, exponent = f"{lr:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def lr_finder_chart(result: LrFinderResult) -> alt.LayerChart:
    """Loss (faint) and smoothed loss against the learning rate on a log axis, over the
    informative steps only and on a capped loss axis, with the suggestion marked."""
    frame, (low, high) = result.informative_view()
    x = alt.X(
        "lr:Q", scale=alt.Scale(type="log"), title="learning rate", axis=alt.Axis(format=".0e")
    )
    y = alt.Scale(domain=[low, high], clamp=True)
    base = alt.Chart(frame).encode(x=x)
    layers = [
        base.mark_line(opacity=0.3, color="#4c78a8", clip=True).encode(
            y=alt.Y("loss:Q", title="training loss", scale=y)
        ),
        base.mark_line(color="#4c78a8", strokeWidth=2, clip=True).encode(
            y=alt.Y("smoothed:Q", scale=y),
            tooltip=[
                alt.Tooltip("lr:Q", format=".2e", title="learning rate"),
                alt.Tooltip("smoothed:Q", format=".4f", title="smoothed loss"),
            ],
        ),
    ]
    if result.suggested_lr is not None:
        label = f"suggested {format_rate(result.suggested_lr)}"
        mark = pd.DataFrame({"lr": [result.suggested_lr], "label": [label]})
        layers += [
            alt.Chart(mark).mark_rule(color="#e45756", strokeDash=[4, 3]).encode(x="lr:Q"),
            alt.Chart(mark)
            .mark_text(align="left", dx=4, dy=-4, color="#e45756")
            .encode(x="lr:Q", y=alt.value(12), text="label:N"),
        ]
    return alt.layer(*layers).properties(height=260, title="loss while the learning rate grows")
