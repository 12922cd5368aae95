"""What a page sees of a background training job: its states, and the snapshot of one job
(with a sweep's progress and the per-batch losses), copied out of ``lab.jobs.JobManager`` under
its lock, so a reader never touches the manager's mutable records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.config import RunConfig
from lab.outcome import Outcome

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
