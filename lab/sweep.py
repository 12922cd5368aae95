"""Sweeps: a grid of learning rates, patience values, batch sizes and epochs in one action.

A sweep is a folder of runs with a ``sweep.json`` beside them (``<runs>/<sweep>/sweep.json``,
``<runs>/<sweep>/lr0.001-bs64-ep12/...``). Each (learning rate, batch size, epochs)
combination is one ordinary run, prepared by ``lab.launch`` and trained by ``lab.fit.fit``
one after the other.

**Patience needs no retraining.** Early stopping only decides when to stop: up to its stop
epoch a run with patience 2 trains exactly what a run with patience 5 trains (same seed, same
batches, same schedule, which depends on the epochs, not the patience). So each combination
trains once with the largest patience, and every smaller value is replayed from its history
with ``lab.early_stopping.replay``, which gives the epoch that patience stops after and the
epoch whose weights it keeps. Those weights are the best ones up to its stop epoch; when they
are not the run's final ``best.pt``, they are kept as ``best-p<patience>.pt``.

To have them, ``lab.patience_snapshots`` keeps a snapshot of ``best.pt`` for as long as some
smaller patience may need it; at the end the needed ones become ``best-p<N>.pt``.

``sweep.json`` records the grid, every run's state and every result, rewritten atomically at
each step, so a sweep stopped as a whole (``TrainControl.request_stop``), interrupted or
killed continues where it was with ``run_sweep`` on its folder: finished runs are not trained
again and the run in progress resumes from its ``last.pt``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from lab import runs
from lab.checkpoint import load_model, read_checkpoint
from lab.config import SETTINGS, RunConfig
from lab.data import Dataset, Progress, load_dataset
from lab.device import pick_device
from lab.early_stopping import replay
from lab.errors import ConfigError, LabError
from lab.evaluate import evaluate_model
from lab.fit import FitResult, fit
from lab.io import atomic_write_text
from lab.launch import PreparedRun, prepare_resume, prepare_run, resolve_source
from lab.outcome import Outcome
from lab.patience_snapshots import BestSnapshots, drop_snapshots, keep_for_patience
from lab.train import Callback, TrainControl

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = 1
# The most runs one sweep trains. They train one after the other, so 64 are already about an
# hour of cpu-1min runs, or a night of cpu-5min ones; a grid of thousands (a list typed with one
# value too many per setting) would hold the machine for days.
MAX_RUNS = 64
# The settings a sweep takes several values of; patience is replayed, the others trained.
SWEPT = ("lr", "patience", "batch_size", "epochs")
TRAINED = ("lr", "batch_size", "epochs")
# What the app's sweep mode varies: several learning rates and patience values, on the batch
# size and epochs of the form (a sweep there is a few short runs of one preset).
APP_SWEPT = ("lr", "patience")
# Where a sweep starts around a config's own value: half and twice it (``values_around``).
AROUND = (0.5, 2.0)

# States of a sweep and of each of its runs.
PENDING = "pending"
RUNNING = "running"
FINISHED = "finished"
STOPPED = "stopped"
INTERRUPTED = "interrupted"
FAILED = "failed"

OnResult = Callable[[dict], None]


def parse_values(text: str, kind: type) -> tuple:
    """``"1e-3, 2e-3"`` as ``(0.001, 0.002)``: comma-separated values of one setting's type."""
    parts = [part.strip() for part in str(text).split(",")]
    if not all(parts):
        raise ConfigError(f"'{text}' has an empty value: write values separated by commas")
    try:
        return tuple(kind(part) for part in parts)
    except ValueError as error:
        raise ConfigError(f"'{text}' is not a list of {kind.__name__} values") from error


def format_values(values: Iterable) -> str:
    """``(0.001, 0.002)`` as ``"0.001, 0.002"``: the text ``parse_values`` reads back."""
    return ", ".join(f"{value:g}" if isinstance(value, float) else str(value) for value in values)


def values_around(config: RunConfig, key: str) -> tuple:
    """The values of the swept setting ``key`` that a sweep of ``config`` starts from: its own
    value, and half and twice it (``AROUND``), each snapped to the nearest stop of the
    setting's control (cpu-1min's learning rate 0.75 gives 0.375, 0.75, 1.5) or, for a whole
    number without stops, rounded and at least one away from its own (patience 1 gives 0, 1,
    2); within the control's range, stretched to hold the own value; sorted, repeats dropped."""
    _check_swept([key])
    declared, own = SETTINGS[key], config.settings()[key]
    low, high = declared.control_range()
    found = {own}
    for factor in AROUND:
        value = own * factor
        if declared.spec.options:
            value = declared.nearest_option(value)
        elif declared.kind == "int":
            value = min(round(value), own - 1) if factor < 1 else max(round(value), own + 1)
        value = max(value, min(low, own))
        found.add(value if high is None else min(value, max(high, own)))
    return tuple(sorted(found))


def run_name(lr: float, batch_size: int, epochs: int) -> str:
    return f"lr{lr:g}-bs{batch_size}-ep{epochs}"


def _check_swept(keys: Iterable[str]) -> None:
    """Refuse setting keys that a sweep does not vary, naming those it does."""
    unknown = sorted(set(keys) - set(SWEPT))
    if unknown:
        raise ConfigError(f"a sweep varies {', '.join(SWEPT)}, not {', '.join(unknown)}")


def _grid(base: RunConfig, grid: Mapping[str, Iterable]) -> dict[str, list]:
    """Every swept setting's values, in the order given, repeats dropped; a setting not given
    keeps the base config's value."""
    _check_swept(grid)
    own = base.settings()
    return {key: list(dict.fromkeys(grid.get(key) or [own[key]])) for key in SWEPT}


def _check_size(values: Mapping[str, list]) -> None:
    """Refuse a grid that trains more than ``MAX_RUNS`` runs, naming its size and the setting
    with the most values."""
    trained = math.prod(len(values[key]) for key in TRAINED)
    if trained > MAX_RUNS:
        sizes = " x ".join(f"{len(values[key])} {key}" for key in TRAINED)
        raise ConfigError(
            f"a sweep trains at most {MAX_RUNS} runs, one after the other; this grid trains "
            f"{trained} runs ({sizes}): give fewer values",
            max(TRAINED, key=lambda key: len(values[key])),
        )


def create_sweep(
    base: RunConfig,
    grid: Mapping[str, Iterable],
    runs_dir: Path,
    *,
    name: str | None = None,
    owner: str | None = None,
) -> Path:
    """Check every combination of ``grid`` (setting key -> values, keys of ``SWEPT``) on
    ``base``, then create the sweep's folder in ``runs_dir`` with its ``sweep.json``; returns
    the folder. A refused value, or a grid of more than ``MAX_RUNS`` runs, raises
    ``ConfigError`` before anything is written."""
    values = _grid(base, grid)
    _check_size(values)
    base = base.with_overrides(data={"source": resolve_source(base.data.source)})
    top = max(values["patience"])
    planned = []
    for lr, batch_size, epochs in itertools.product(*(values[key] for key in TRAINED)):
        config = base.with_settings(
            {"lr": lr, "batch_size": batch_size, "epochs": epochs, "patience": top}
        )
        planned.append(
            {
                "run": run_name(lr, batch_size, epochs),
                "lr": config.train.lr,
                "batch_size": batch_size,
                "epochs": epochs,
                "state": PENDING,
                "config": config.to_dict(),
            }
        )
    for patience in values["patience"]:
        base.with_settings({"patience": patience})  # refuses a negative patience
    names = [entry["run"] for entry in planned]
    if len(set(names)) < len(names):
        raise ConfigError(f"learning rates that differ beyond 6 digits: {values['lr']}", "lr")
    sweep_dir = runs.create_run_dir(runs_dir, name, prefix="sweep")
    write_sweep(
        sweep_dir,
        {
            "format": SWEEP_FORMAT,
            "name": sweep_dir.name,
            "owner": owner,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "state": PENDING,
            "grid": values,
            "monitor": base.train.monitor,
            "runs": planned,
            "results": [],
        },
    )
    return sweep_dir


def write_sweep(sweep_dir: Path, sweep: dict) -> None:
    atomic_write_text(json.dumps(sweep, indent=2), Path(sweep_dir) / SWEEP_FILE)


def read_sweep(sweep_dir: Path) -> dict:
    """A sweep's ``sweep.json``; ``LabError`` when the folder holds none or a damaged one."""
    path = Path(sweep_dir) / SWEEP_FILE
    try:
        sweep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LabError(f"{sweep_dir} holds no readable {SWEEP_FILE} ({error})") from error
    if not isinstance(sweep, dict) or sweep.get("format") != SWEEP_FORMAT:
        raise LabError(f"{path} is not a sweep file of this lab (format {SWEEP_FORMAT})")
    return sweep


def list_sweeps(runs_dir: Path) -> list[Path]:
    """The sweep folders of ``runs_dir`` (those holding a ``sweep.json``), newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = [path.parent for path in runs_dir.glob(f"*/{SWEEP_FILE}") if path.is_file()]
    return sorted(found, key=lambda folder: (folder / SWEEP_FILE).stat().st_mtime, reverse=True)


RESULT_COLUMNS = (
    "lr",
    "patience",
    "batch_size",
    "epochs",
    "run",
    "trained",
    "stop_epoch",
    "best_epoch",
    "best_val_acc",
    "test_acc",
    "minutes",
    "checkpoint",
    "outcome",
)


def results_frame(sweep: dict) -> pd.DataFrame:
    """One row per combination done so far (lr, patience, batch_size, epochs, run, trained,
    stop_epoch, best_epoch, best_val_acc, test_acc, minutes, checkpoint, outcome)."""
    return pd.DataFrame(sweep["results"], columns=list(RESULT_COLUMNS))


def describe(sweep: dict) -> str:
    """What the sweep will do, in one sentence that says patience is replayed, not trained."""
    trained, patience = len(sweep["runs"]), sweep["grid"]["patience"]
    combinations = trained * len(patience)
    text = f"{combinations} combinations from {trained} trained run{'s' * (trained != 1)}"
    if len(patience) > 1:
        others = ", ".join(str(p) for p in patience if p != max(patience))
        text += (
            f": each trains once with patience {max(patience)}, and patience {others} is "
            "replayed from its history (no retraining)"
        )
    return text


def format_result(result: dict) -> str:
    """One combination as one line: lr, patience, best epoch, accuracies and minutes."""

    def accuracy(value: float | None) -> str:
        return f"{value:.4f}" if value is not None else "-"

    if result["trained"]:
        how = "trained"
    elif result["stop_epoch"] is None:
        how = "replayed: would not stop early"
    else:
        how = f"replayed: stops after epoch {result['stop_epoch']}"
    return (
        f"lr {result['lr']:g}  patience {result['patience']}  batch {result['batch_size']}  "
        f"epochs {result['epochs']}  best epoch {result['best_epoch'] or '-'}  "
        f"val acc {accuracy(result['best_val_acc'])}  test acc {accuracy(result['test_acc'])}  "
        f"{result['minutes']:.2f} min  ({how})"
    )


# --- running ------------------------------------------------------------------------------------


def _prepare(run_dir: Path, config: RunConfig, dataset: Dataset) -> PreparedRun:
    """A new run in ``run_dir``, or the continuation of what a stopped or killed sweep left
    there."""
    if (run_dir / runs.LAST).exists() or (run_dir / runs.CONFIG).is_file():
        return prepare_resume(run_dir, dataset=dataset)
    if run_dir.is_dir():
        # Killed before the run wrote its config: at most the temp file of that write is left.
        for stale in run_dir.glob(".*.tmp"):
            stale.unlink()
        runs.remove_empty_run_dir(run_dir)
    return prepare_run(config, run_dir.parent, name=run_dir.name, dataset=dataset)


def _replayed_results(
    entry: dict,
    trained: FitResult,
    prepared: PreparedRun,
    patience: Sequence[int],
    device: torch.device | None,
) -> list[dict]:
    """The result of every patience value from one trained run, with its checkpoint kept."""
    tc, run_dir = prepared.config.train, prepared.run_dir
    history, metrics = trained.history, trained.metrics
    values = [float(row[tc.monitor]) for row in history]
    wall_s = metrics.get("wall_s") or 0.0
    results = []
    for value in sorted(patience):
        what_if = replay(values, value, tc.monitor_mode, tc.min_delta)
        stop, best = what_if["stop_epoch"], what_if["best_epoch"] or None
        if stop is not None:
            ended = Outcome.EARLY_STOPPED if math.isfinite(values[stop - 1]) else Outcome.DIVERGED
        else:
            ended = trained.outcome
        ran = stop or len(history)
        checkpoint, test_acc = runs.BEST, metrics.get("test_acc")
        if best is not None and best != metrics.get("best_epoch"):
            checkpoint = keep_for_patience(run_dir, best, value)
            test_acc = history[best - 1].get("test_acc")
            if test_acc is None and checkpoint is not None:
                loaded = load_model(run_dir / checkpoint, device=device or pick_device())
                test = prepared.splits.test
                test_acc = evaluate_model(loaded, test, precision=tc.precision).accuracy
        results.append(
            {
                "lr": entry["lr"],
                "patience": value,
                "batch_size": entry["batch_size"],
                "epochs": entry["epochs"],
                "run": entry["run"],
                "trained": value == tc.patience,
                "stop_epoch": stop,
                "best_epoch": best,
                "best_val_acc": history[best - 1].get("val_acc") if best else None,
                "test_acc": test_acc,
                # A replayed value costs its share of the trained run's epochs.
                "minutes": wall_s * ran / max(len(history), 1) / 60,
                "checkpoint": checkpoint if best else None,
                "outcome": ended.value,
            }
        )
    drop_snapshots(run_dir)
    return results


def run_sweep(
    sweep_dir: Path,
    *,
    dataset: Dataset | None = None,
    device: torch.device | None = None,
    control: TrainControl | None = None,
    callbacks: tuple[Callback, ...] = (),
    on_result: OnResult | None = None,
    progress: Progress | None = None,
) -> dict:
    """Train (or continue) every run of the sweep in ``sweep_dir`` in turn and replay its
    patience values; returns the final ``sweep.json``.

    ``on_result`` gets each combination's result as it is known (those finished before a
    resume first); ``callbacks`` get every run's training events; ``control`` pauses the
    sweep or stops it as a whole (the run in progress stops at its next batch and resumes
    from its ``last.pt`` when the sweep is run again). ``dataset`` saves loading the data.
    """
    sweep_dir = Path(sweep_dir)
    sweep = read_sweep(sweep_dir)
    for result in sweep["results"]:
        if on_result is not None:
            on_result(result)
    patience = sweep["grid"]["patience"]
    with _recorded(sweep_dir, sweep):
        for entry in sweep["runs"]:
            if entry["state"] == FINISHED:
                continue
            if control is not None and control.wait_if_paused():
                sweep["state"] = STOPPED
                break
            config = RunConfig.from_dict(entry["config"])
            if dataset is None:
                dataset = load_dataset(config.data.source, progress=progress)
            run_dir = sweep_dir / entry["run"]
            prepared = _prepare(run_dir, config, dataset)
            snapshots = BestSnapshots(run_dir, prepared.config, patience)
            if prepared.resume and (run_dir / runs.BEST).exists():
                # A kill can land after best.pt was written and before it was linked.
                snapshots.keep(int(read_checkpoint(run_dir / runs.BEST)["epoch"]))
            sweep["state"] = entry["state"] = RUNNING
            write_sweep(sweep_dir, sweep)
            result = fit(
                prepared,
                control=control,
                callbacks=(snapshots, *callbacks),
                device=device,
            )
            if result.outcome is Outcome.STOPPED:
                sweep["state"] = entry["state"] = STOPPED
                break
            found = _replayed_results(entry, result, prepared, patience, device)
            entry["state"], entry["outcome"] = FINISHED, result.outcome.value
            sweep["results"].extend(found)
            write_sweep(sweep_dir, sweep)
            for found_result in found:
                if on_result is not None:
                    on_result(found_result)
        else:
            sweep["state"] = FINISHED
    return sweep


@contextlib.contextmanager
def _recorded(sweep_dir: Path, sweep: dict):
    """Write the sweep's state on the way out: where it ended, or that it was interrupted
    (Ctrl-C) or failed, with the run in progress marked the same way."""
    try:
        yield
    except BaseException as error:
        state = INTERRUPTED if isinstance(error, KeyboardInterrupt) else FAILED
        sweep["state"] = state
        for entry in sweep["runs"]:
            if entry["state"] == RUNNING:
                entry["state"] = state
        if state == FAILED:
            sweep["error"] = str(error)
        write_sweep(sweep_dir, sweep)
        raise
    write_sweep(sweep_dir, sweep)


def split_settings(given: Mapping[str, object]) -> tuple[dict, dict]:
    """Settings given as flags, split into the single values every run shares and the swept
    lists of ``SWEPT`` (a swept setting given once is a list of one)."""
    single = {key: value for key, value in given.items() if key not in SWEPT}
    grid = {key: list(value) for key, value in given.items() if key in SWEPT}
    return single, grid
