"""The Checkpoints page's pieces that its tabs share: the runs table, the histories and
evaluations of runs, galleries of test images, and the delete / resume actions. Each tab draws
from its own module of this package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app.cache import chart_spec, data_store, inference_device, job_manager, kept_evaluation
from app.data import require_dataset
from app.images import DISPLAY_SIDE, chw_to_hwc, upscale
from app.run_choice import checkpoint_file
from app.state import checkpoints, job, source
from app.widgets import error_box, progress_bar
from lab import runs
from lab.data import Dataset
from lab.errors import LabError
from lab.evaluate import Evaluation
from lab.outcome import Outcome
from lab.runs import RunInfo
from lab.stored_evaluation import run_evaluation

# The metrics of a run's history, in plain words (the axis titles and the metric picker).
METRICS = {
    "val_acc": "validation accuracy",
    "train_acc": "training accuracy",
    "test_acc": "test accuracy",
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "test_loss": "test loss",
}
# Images in a gallery (top losses, disagreements): enough to see a pattern, few enough to send.
GALLERY_SIZE = 16


def run_status(run: RunInfo) -> str:
    """Training / queued / paused for a run with a live job, else how the run ended."""
    training = job_manager().job_for_run(run.path)
    if training is not None and training.active:
        return training.state
    if run.damaged:
        return f"damaged: {run.damaged}"
    if run.metrics.get("reason"):
        return run.metrics["reason"]
    return "interrupted (can resume)"


def resumable(run: RunInfo) -> bool:
    """True for a run without a live job that the user stopped, or that never ended (killed,
    or interrupted)."""
    training = job_manager().job_for_run(run.path)
    if training is not None and training.active:
        return False
    outcome = Outcome.parse(run.metrics.get("outcome"))
    return outcome is None or outcome.resumable


# What the runs table shows for a test score a run does not have: Streamlit's grid writes
# "None" in an empty number cell.
NOT_SCORED = "—"


def runs_table(found: list[RunInfo]) -> pd.DataFrame:
    """One row per run: model, key config, best validation and test accuracy (written, as
    ``NOT_SCORED`` for a run without one), epochs, time."""
    rows = []
    for run in found:
        config, metrics = run.config, run.metrics
        train, model = config.get("train", {}), config.get("model", {})
        rows.append(
            {
                "run": run.name,
                "model": model.get("name"),
                "preset": config.get("preset"),
                "lr": train.get("lr"),
                "batch": train.get("batch_size"),
                "patience": train.get("patience"),
                "best val acc": run.best_val_acc,
                "test acc": NOT_SCORED if run.test_acc is None else f"{run.test_acc:.2%}",
                "epochs": run.epochs,
                "minutes": (metrics["wall_s"] / 60) if metrics.get("wall_s") else None,
                "status": run_status(run),
            }
        )
    return pd.DataFrame(rows).set_index("run")


def histories(found: list[RunInfo], names: list[str]) -> pd.DataFrame:
    """The epoch histories of the named runs in one frame, with a ``run`` column."""
    frames = [
        runs.read_history(run.path).assign(run=run.name)
        for run in found
        if run.name in names and not run.damaged
    ]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=["run", "epoch", *METRICS])
    return pd.concat(frames, ignore_index=True)


def evaluation_of(run: RunInfo) -> Evaluation | None:
    """The test evaluation the run keeps (``lab.stored_evaluation``); for a run made before
    runs kept one, computed once here with a progress bar, and kept. None, after saying why,
    when there is no data to compute it on or it fails."""
    checkpoint = checkpoint_file(run)
    kept = kept_evaluation(run.path, checkpoint)
    if kept is not None:
        return kept
    dataset = require_dataset(f"evaluate {run.name} on the test split")
    if dataset is None:
        return None

    def describe(done: int, total: int) -> str:
        return (
            f"Evaluating {run.name}: {done:,} of {total:,} test images, once (the run keeps the "
            "result)"
        )

    try:
        with progress_bar(f"Evaluating {run.name} on the test split ...", describe) as progress:
            return run_evaluation(
                run.path, checkpoint, dataset, device=inference_device(), progress=progress
            )
    except LabError as error:
        error_box(st, error)
        return None


def scored_dataset(evaluation: Evaluation) -> Dataset | None:
    """The data set whose test split ``evaluation`` scored, to show its images; None, after
    saying so, when the sidebar's data is another (a run trained on other data)."""
    dataset = require_dataset("show the test images")
    if dataset is None:
        return None
    if tuple(dataset.classes) == tuple(evaluation.classes) and np.array_equal(
        dataset.test.labels.numpy(), evaluation.labels
    ):
        return dataset
    st.caption(
        "The test images this run was scored on are not those of the data chosen in the "
        "sidebar: pick the run's own data there to see them."
    )
    return None


def picture(dataset: Dataset, index: int) -> Image.Image:
    """Test image ``index`` as a picture (the input of Grad-CAM)."""
    return Image.fromarray(chw_to_hwc(dataset.test.images[int(index)]))


def gallery_picture(dataset: Dataset, index: int, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Test image ``index`` enlarged pixel by pixel to about ``side`` pixels."""
    return upscale(chw_to_hwc(dataset.test.images[int(index)]), side)


def gallery(pictures: Sequence[np.ndarray], captions: Sequence[str]) -> None:
    """Images in a row that wraps, every one shown at the same size whatever its own (a
    Grad-CAM overlay of the 227 px model is larger than a 32 px test image enlarged)."""
    st.image(list(pictures), caption=list(captions), width=DISPLAY_SIDE)


def chart(container: Any, build: Callable[..., alt.TopLevelMixin], *args: Any, **shown: Any):
    """Draw the chart ``build(*args)`` of ``app.charts`` in ``container`` at its full width,
    its spec made once per distinct arguments (``app.cache.chart_spec``); ``shown`` passes on
    a key and the selection options. Returns what ``vega_lite_chart`` returns."""
    return container.vega_lite_chart(chart_spec(build, *args), width="stretch", **shown)


def per_class_accuracy(evaluations: dict[str, Evaluation]) -> pd.DataFrame:
    """Accuracy on each class (its recall) per run, long format: run, class, accuracy."""
    frames = []
    for name, evaluation in evaluations.items():
        table = evaluation.per_class()
        frames.append(
            pd.DataFrame({"run": name, "class": table["class"], "accuracy": table["recall"]})
        )
    return pd.concat(frames, ignore_index=True)


# --- callbacks ------------------------------------------------------------------------------------


def delete(run: RunInfo) -> None:
    """Confirmed deletion; refused while a job still trains the run."""
    checkpoints.set_pending_delete(None)
    training = job_manager().job_for_run(run.path)
    if training is not None and training.active:
        checkpoints.set_message(
            "error", f"{run.name} is being trained: stop it on the Train page first."
        )
        return
    try:
        runs.delete_run(run.path, source.runs_dir())
    except (LabError, OSError) as error:
        checkpoints.set_message("error", f"could not delete {run.name}: {error}")
        return
    checkpoints.set_message("success", f"Deleted run {run.name}.")


def resume(run: RunInfo) -> None:
    """Queue the continuation of an interrupted run and follow it on the Train page."""
    data = source.data_source()
    store = data_store()
    dataset = store.load(data) if store.has(data) else None
    try:
        job_id = job_manager().resume_run(
            run.path, dataset=dataset, owner=job.owner(), owner_name=job.owner_name()
        )
    except LabError as error:
        checkpoints.set_message("error", str(error))
        return
    job.watch(job_id)
    checkpoints.set_message("success", f"Resuming {run.name}: follow it on the Train page.")
