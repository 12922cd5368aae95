"""Preparing a run: the one way the CLI, the app and the job manager start or resume training.

``prepare_run`` loads the data, splits it, checks every setting against it, and only then
creates the run folder, so a refused run leaves nothing on disk. ``prepare_resume`` reads a run
folder back: from its ``last.pt`` (a damaged one is refused, with nothing changed), or, for a
run killed before its first checkpoint, from its ``config.json`` (it starts again from epoch 1,
and says so); a run that left nothing to resume (killed before it wrote its config, or before
its folder existed) starts afresh with the config it is given, as Lightning's
``ckpt_path="last"`` does. Either way ``fit``
gets a ``PreparedRun``'s config, splits and folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lab import distributed, runs
from lab.batches import check_batch_size
from lab.checkpoint import read_resume_state
from lab.config import CIFAR10_SOURCE, RunConfig
from lab.data import Dataset, Progress, Splits, load_dataset, make_splits
from lab.distributed import DistContext
from lab.errors import LabError
from lab.locks import check_free
from lab.outcome import Outcome


@dataclass(frozen=True)
class PreparedRun:
    """A run ready for ``fit``: its config, its data and its folder."""

    config: RunConfig
    splits: Splits
    run_dir: Path
    # True to continue from last.pt; False for a run that starts at epoch 1.
    resume: bool = False
    # What the user should be told about how the run was prepared (a restart, say).
    notice: str | None = None
    # How a resumed run had already ended, if it had (fit then only completes its files).
    ended: Outcome | None = None


def resolve_source(source: str) -> str:
    """The data source as a run stores it: ``cifar10``, or the folder's absolute path, so the
    run finds its data again from any working folder."""
    if source.strip().lower() == CIFAR10_SOURCE:
        return CIFAR10_SOURCE
    return str(Path(source).expanduser().resolve())


def _splits(
    config: RunConfig, dataset: Dataset | None, progress: Progress | None
) -> tuple[RunConfig, Splits]:
    source = resolve_source(config.data.source)
    config = config.with_overrides(data={"source": source})
    if dataset is None or resolve_source(dataset.source) != source:
        dataset = load_dataset(source, progress=progress)
    splits = make_splits(dataset, config.data)
    check_batch_size(config.train.batch_size, len(splits.train))
    return config, splits


def prepare_run(
    config: RunConfig,
    runs_dir: Path,
    *,
    name: str | None = None,
    exact: bool = False,
    dataset: Dataset | None = None,
    progress: Progress | None = None,
    context: DistContext = DistContext(),
) -> PreparedRun:
    """Check a new run against its data and create its folder (on rank 0 under torchrun).

    A ``name`` another run has is suffixed (``exact``: refused). ``dataset`` saves loading
    the data again when it is the config's source already.
    """
    config, splits = _splits(config, dataset, progress)
    run_dir = None
    if context.is_main:
        prefix = config.preset or config.model.name
        run_dir = runs.create_run_dir(runs_dir, name, prefix=prefix, exact=exact)
    return PreparedRun(config, splits, distributed.broadcast(run_dir, context))


def _differences(shown: dict, trained: dict) -> list[str]:
    """Each setting where two config dicts differ, as "epochs 5 in config.json, 1 in last.pt"."""
    found = []
    for key in sorted(set(shown) | set(trained)):
        a, b = shown.get(key), trained.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b)
        elif a != b:
            found.append(f"{key} {a} in {runs.CONFIG}, {b} in {runs.LAST}")
    return found


def check_saved_config(run_dir: Path, trained: RunConfig) -> None:
    """Refuse to resume a run whose ``config.json`` no longer says what ``last.pt`` trains
    with: resume continues with the checkpoint's settings (its optimizer and schedule were
    made for them), and the runs table shows ``config.json``, so an edited file would be shown
    but ignored. A missing ``config.json`` is fine: ``fit`` writes it again from ``last.pt``."""
    try:
        shown = runs.read_config(run_dir)
    except LabError as error:
        raise LabError(
            f"cannot resume {run_dir.name}: {error}; delete {runs.CONFIG} to have it written "
            f"again from {runs.LAST}"
        ) from error
    changed = _differences(shown, trained.to_dict()) if shown else []
    if changed:
        raise LabError(
            f"cannot resume {run_dir.name}: its {runs.CONFIG} differs from {runs.LAST} "
            f"({'; '.join(changed)}); a run continues with the settings it trained with: put "
            f"{runs.CONFIG} back (or delete it to have it written again), or start a new run"
        )


def resume_differences(own: RunConfig, given: Mapping[str, object]) -> list[str]:
    """What of ``given`` (options given with a resume, by name: a setting's key, ``data`` or
    ``preset``) is not the run's ``own``, as "--epochs 5 (its own 2)", by name; data sources
    count as equal when they resolve to the same folder."""
    values = {**own.settings(), "data": own.data.source, "preset": own.preset}
    found = []
    for key in sorted(given):
        theirs, mine = given[key], values[key]
        if key == "data":
            theirs, mine = resolve_source(str(theirs)), resolve_source(mine)
        if theirs != mine:
            found.append(f"--{key.replace('_', '-')} {theirs} (its own {mine})")
    return found


def _check_given(run_dir: Path, own: RunConfig, given: Mapping[str, object]) -> None:
    """Refuse options given with a resume that are not the run's own: a resumed run continues
    with the settings it trained with (its optimizer, schedule and split were made for them)."""
    differ = resume_differences(own, given)
    if differ:
        raise LabError(
            f"--resume continues run {run_dir.name} with the settings it trained with, and "
            f"{', '.join(differ)} differ: leave them out, or start a new run"
        )


def prepare_resume(
    run_dir: Path,
    *,
    start: RunConfig | None = None,
    given: Mapping[str, object] | None = None,
    restart: bool = False,
    dataset: Dataset | None = None,
    progress: Progress | None = None,
    context: DistContext = DistContext(),
) -> PreparedRun:
    """Read an unfinished run folder back, ready to continue.

    Refused at once while another process trains the run. A usable ``last.pt`` continues
    where it stopped; a damaged one is refused (``CheckpointError`` naming the file and the
    damage) with nothing changed, since training again would replace the run's ``best.pt``.
    Without one (the run was killed before its first checkpoint, or inside that write) the run
    starts again from epoch 1 with the config in its ``config.json``, and the notice says so;
    ``restart`` does that whatever its ``last.pt`` holds. A folder no run started in
    (``lab.runs.unstarted``: missing, or left empty by a kill) starts afresh in that folder
    with ``start`` and says so; without ``start`` there is nothing to resume. Options
    ``given`` with the resume (``resume_differences``) that are not the run's own are refused
    before any data is loaded.
    """
    run_dir = Path(run_dir)
    check_free(run_dir)  # at once, before any data is loaded
    last, saved = run_dir / runs.LAST, run_dir / runs.CONFIG
    if last.exists() and not restart:
        state = read_resume_state(last)
        check_saved_config(run_dir, state.config)
        _check_given(run_dir, state.config, given or {})
        config, splits = _splits(state.config, dataset, progress)
        return PreparedRun(config, splits, run_dir, resume=True, ended=state.outcome)
    if not saved.is_file():
        if start is None or not runs.unstarted(run_dir):
            if restart:
                raise LabError(
                    f"cannot restart run {run_dir.name}: {run_dir} holds no {runs.CONFIG} to "
                    "start it over from"
                )
            raise LabError(
                f"nothing to resume: {run_dir} holds no {runs.LAST} and no {runs.CONFIG}"
            )
        prepared = prepare_run(
            start,
            run_dir.parent,
            name=run_dir.name,
            exact=True,
            dataset=dataset,
            progress=progress,
            context=context,
        )
        return replace(
            prepared,
            notice=f"nothing to resume in {run_dir}: run {run_dir.name} starts afresh with the "
            "settings given",
        )
    try:
        config = RunConfig.from_dict(runs.read_config(run_dir))
    except LabError as error:
        raise LabError(f"cannot resume {run_dir.name}: {error}") from error
    _check_given(run_dir, config, given or {})
    config, splits = _splits(config, dataset, progress)
    name = run_dir.name
    if restart:
        notice = f"run {name} starts over from epoch 1 with its saved config, as asked"
    else:
        notice = f"no {runs.LAST} yet; run {name} starts again from epoch 1 with its saved config"
    return PreparedRun(config, splits, run_dir, resume=False, notice=notice)
