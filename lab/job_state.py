"""The state of a background training job: its states, the manager's mutable record of one
job (``JobRecord``), and what a page sees of it (``JobSnapshot``, with a sweep's progress and
the per-batch losses), copied out of ``lab.jobs.JobManager`` under its lock, so a reader never
touches the records."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.config import RunConfig
from lab.data import Dataset
from lab.launch import PreparedRun
from lab.outcome import Outcome
from lab.train import TrainControl

QUEUED = "queued"
RUNNING = "running"
PAUSED = "paused"
STOPPING = "stopping"
STOPPED = "stopped"
FINISHED = "finished"
FAILED = "failed"
CANCELLED = "cancelled"  # stopped before it ever trained: nothing on disk, nothing to resume
# States in which a job still holds (or waits for) training resources.
ACTIVE_STATES = frozenset({QUEUED, RUNNING, PAUSED, STOPPING})
ENDED_STATES = frozenset({STOPPED, FINISHED, FAILED, CANCELLED})


@dataclass(frozen=True)
class BatchLoss:
    """One optimiser step's loss and its running (bias-corrected) exponential average."""

    step: int
    epoch: int
    loss: float
    smoothed: float


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep job is: its grid, its trained runs in order, and every combination's
    result known so far (the rows of ``lab.sweep.results_frame``)."""

    grid: dict
    runs: tuple[str, ...]
    results: tuple[dict, ...]

    @property
    def done(self) -> int:
        """Trained runs finished (each gives one result per patience value)."""
        return len({result["run"] for result in self.results})

    @property
    def current(self) -> str | None:
        """The run in training (or next to train); None once all are done."""
        return self.runs[self.done] if self.done < len(self.runs) else None


@dataclass(frozen=True)
class JobSnapshot:
    """Everything a page shows about one job, copied under the manager's lock."""

    job_id: str
    run_dir: Path
    state: str
    config: RunConfig
    owner: str | None  # the key of whoever may control it: never shown to anyone
    owner_name: str | None  # the name its student gave, shown to everyone
    epoch: int  # the epoch being trained (or the last one completed)
    epochs: int
    batch: int
    batches: int
    progress: float  # 0 to 1 over all epochs
    images_per_s: float | None
    eta_s: float | None  # at most this long: early stopping may end the run sooner
    history: tuple[dict, ...]
    batch_losses: tuple[BatchLoss, ...]
    best_epoch: int | None
    best_value: float | None
    patience_counter: int
    patience: int
    outcome: Outcome | None  # how the run ended, once it has
    parked: bool  # paused, and its training thread is holding still between two batches
    reason: str | None  # why the run ended, or why it was paused automatically
    error: str | None
    queue_position: int | None  # 1 = next to start
    metrics: dict
    sweep: SweepProgress | None  # a sweep job's progress; the other fields are of its current run

    @property
    def run_name(self) -> str:
        return self.run_dir.name

    @property
    def monitor(self) -> str:
        return self.config.train.monitor

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def resumable(self) -> bool:
        return self.state in (PAUSED, STOPPED)

    @property
    def diverged(self) -> bool:
        return self.outcome is Outcome.DIVERGED

    def owned_by(self, session: str | None) -> bool:
        """True when ``session`` may pause, resume or stop this job: the one that started it
        (a job started outside any browser session belongs to everyone)."""
        return self.owner is None or self.owner == session


@dataclass
class JobRecord:
    """One job as ``lab.jobs.JobManager`` keeps it: mutable, and only touched with the
    manager's lock held; pages see a ``JobSnapshot`` of it."""

    job_id: str
    prepared: PreparedRun | None  # freed once the job can no longer train
    run_dir: Path
    config: RunConfig
    owner: str | None
    owner_name: str | None = None
    control: TrainControl = field(default_factory=TrainControl)
    # Whether the next training continues from last.pt: as prepared at first (a run folder
    # without a usable last.pt starts again), then whether the job's own training wrote one.
    resume: bool = False
    state: str = QUEUED
    # True from the start of a training thread until it has recorded how the run ended: only
    # then can a pause be lifted or a stop be requested through ``control``.
    training: bool = False
    epoch: int = 0
    batch: int = 0
    batches: int = 0
    images_per_s: float | None = None
    history: list[dict] = field(default_factory=list)
    batch_losses: list[BatchLoss] = field(default_factory=list)
    loss_average: float = 0.0
    best_epoch: int | None = None
    best_value: float | None = None
    patience_counter: int = 0
    outcome: Outcome | None = None
    reason: str | None = None
    error: str | None = None
    metrics: dict = field(default_factory=dict)
    last_watched: float = field(default_factory=time.monotonic)
    # Training time excluding pauses, and the progress this job started from (a resumed run
    # starts part-way), for the ETA.
    active_s: float = 0.0
    active_since: float | None = None
    progress_at_start: float | None = None
    # A sweep job: its progress, the data its runs train on, and each run's config by name;
    # ``between_runs`` from the end of one run until the next one's first batch.
    sweep: SweepProgress | None = None
    dataset: Dataset | None = None
    sweep_configs: dict[str, RunConfig] = field(default_factory=dict)
    between_runs: bool = False

    def run_progress(self) -> float:
        """0 to 1 over the epochs of the run in training."""
        epochs = self.config.train.epochs
        done = len(self.history)
        if self.batches and self.epoch == done + 1:
            return min(1.0, (done + self.batch / self.batches) / epochs)
        return min(1.0, done / epochs)

    def progress(self) -> float:
        if self.sweep is None:
            return self.run_progress()
        current = 0.0 if self.between_runs else self.run_progress()
        return min(1.0, (self.sweep.done + current) / len(self.sweep.runs))

    def eta_s(self, now: float) -> float | None:
        """Seconds left at the speed of the active time so far (pauses do not count)."""
        active = self.active_s + (now - self.active_since if self.active_since is not None else 0)
        progress = self.progress()
        gained = progress - (self.progress_at_start or 0.0)
        if self.state != RUNNING or gained <= 0 or active <= 0:
            return None
        return active * (1.0 - progress) / gained
