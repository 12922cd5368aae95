"""The Checkpoints page's pieces: the runs table, curves of several runs, per-class accuracy,
and the delete / resume actions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.cache import data_store, job_manager
from app.state import checkpoints, job, source
from lab import runs
from lab.errors import LabError
from lab.evaluate import Evaluation
from lab.outcome import Outcome
from lab.runs import RunInfo

METRICS = {
    "val_acc": "validation accuracy",
    "train_acc": "training accuracy",
    "test_acc": "test accuracy",
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "test_loss": "test loss",
}


def checkpoint_file(run: RunInfo) -> Path:
    """best.pt when the run has one, else last.pt."""
    best = run.path / runs.BEST
    return best if best.exists() else run.path / runs.LAST


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


def runs_table(found: list[RunInfo]) -> pd.DataFrame:
    """One row per run: model, key config, best validation and test accuracy, epochs, time."""
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
                "test acc": run.test_acc,
                "epochs": run.epochs,
                "wall time (min)": (metrics["wall_s"] / 60) if metrics.get("wall_s") else None,
                "status": run_status(run),
            }
        )
    return pd.DataFrame(rows).set_index("run")


def best_run(found: list[RunInfo]) -> str | None:
    """The run with the best validation accuracy (else test accuracy), the default choice."""
    scored = [r for r in found if (r.best_val_acc or r.test_acc) is not None]
    if not scored:
        return found[0].name if found else None
    return max(scored, key=lambda r: (r.best_val_acc or 0.0, r.test_acc or 0.0)).name


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
        job_id = job_manager().resume_run(run.path, dataset=dataset, owner=job.session_id())
    except LabError as error:
        checkpoints.set_message("error", str(error))
        return
    job.watch(job_id)
    checkpoints.set_message("success", f"Resuming {run.name}: follow it on the Train page.")
