"""Background training jobs: a thread-safe manager that runs ``lab.fit.fit`` in threads.

The app (or any other long-lived process) submits a run and polls ``snapshot`` for its progress;
the training itself happens in a thread of the manager, so it survives page reruns and switches.
Every job gets its own run folder (``lab.runs.create_run_dir``). At most ``max_running`` jobs
train at once (default one on a CPU, whose cores they would otherwise fight over); the others
wait in a queue whose position the snapshot reports. A running job that nobody has polled for
``idle_pause_s`` seconds (its browser tab was closed) is paused, so it stops holding the CPU, and
can be resumed later. A job stopped by the user resumes from its ``last.pt``. A job's owner (the
browser that started it) alone may pause, resume or stop it; the name its student gave is
shown to the others and, once it trains, recorded in its folder (``lab.runs.write_owner``). A sweep
(``submit_sweep``) is one job that trains the runs of a ``lab.sweep`` folder in turn: it is
paused, resumed and stopped as a whole.

This module never imports streamlit: it is plain threads and locks around the training engine.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from lab import runs, sweep
from lab.config import RunConfig
from lab.data import Dataset
from lab.device import pick_device
from lab.errors import ConfigError, LabError
from lab.fit import fit
from lab.job_state import (  # the states, the record and the snapshot: part of this API
    ACTIVE_STATES,
    CANCELLED,
    ENDED_STATES,
    FAILED,
    FINISHED,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    STOPPING,
    BatchLoss,
    JobRecord,
    JobSnapshot,
    SweepProgress,
)
from lab.launch import prepare_resume, prepare_run
from lab.outcome import Outcome
from lab.train import BatchEvent, EndEvent, EpochEvent, TrainControl

log = logging.getLogger(__name__)


MAX_JOBS_ENV = "CIFAR_LAB_MAX_JOBS"
IDLE_PAUSE_ENV = "CIFAR_LAB_IDLE_PAUSE_S"
# Long enough that a browser throttling a background tab's timers never trips it.
DEFAULT_IDLE_PAUSE_S = 900.0
# Weight of the previous value in the exponential moving average of per-batch losses.
LOSS_SMOOTHING = 0.9


def default_max_running(device: torch.device) -> int:
    """``CIFAR_LAB_MAX_JOBS`` if set, else 1 on a CPU and 2 on a GPU."""
    configured = os.environ.get(MAX_JOBS_ENV, "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError as error:
            raise ConfigError(
                f"{MAX_JOBS_ENV} must be a whole number, got {configured!r}"
            ) from error
        if value < 1:
            raise ConfigError(f"{MAX_JOBS_ENV} must be at least 1, got {value}")
        return value
    return 1 if device.type == "cpu" else 2


def default_idle_pause_s() -> float:
    """``CIFAR_LAB_IDLE_PAUSE_S`` if set, else 15 minutes."""
    configured = os.environ.get(IDLE_PAUSE_ENV, "").strip()
    if not configured:
        return DEFAULT_IDLE_PAUSE_S
    try:
        value = float(configured)
    except ValueError as error:
        raise ConfigError(
            f"{IDLE_PAUSE_ENV} must be a number of seconds, got {configured!r}"
        ) from error
    if not value > 0:
        raise ConfigError(f"{IDLE_PAUSE_ENV} must be > 0 seconds, got {value}")
    return value


class JobManager:
    """Runs training jobs in background threads, with a cap, a queue and an idle pause."""

    def __init__(
        self,
        *,
        max_running: int | None = None,
        idle_pause_s: float | None = None,
        device: torch.device | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device or pick_device()
        self.max_running = max_running or default_max_running(self.device)
        self.idle_pause_s = idle_pause_s or default_idle_pause_s()
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, JobRecord] = {}
        self._queue: list[str] = []
        self._ids = itertools.count(1)

    # --- commands --------------------------------------------------------------------------------

    def submit(
        self,
        config: RunConfig,
        runs_dir: Path,
        *,
        name: str | None = None,
        dataset: Dataset | None = None,
        owner: str | None = None,
        owner_name: str | None = None,
    ) -> str:
        """Check a new run and queue it in a fresh folder of ``runs_dir``; returns the job id.
        ``owner`` is the key of whoever may control it, ``owner_name`` the name to show.

        ``lab.launch.prepare_run`` checks every setting against the data (``dataset`` saves
        loading it again) before the folder is made, so a refused run raises here and leaves
        nothing behind.
        """
        prepared = prepare_run(config, Path(runs_dir), name=name, dataset=dataset)
        job = JobRecord(self._new_id(), prepared, prepared.run_dir, prepared.config, owner)
        return self._add(job, owner_name)

    def submit_sweep(
        self,
        sweep_dir: Path,
        *,
        dataset: Dataset,
        owner: str | None = None,
        owner_name: str | None = None,
    ) -> str:
        """Queue a sweep folder made by ``lab.sweep.create_sweep`` (or one stopped or
        interrupted before) as one job that trains its runs in turn (``lab.sweep.run_sweep``)
        on ``dataset``; returns the job id."""
        sweep_dir = Path(sweep_dir)
        planned = sweep.read_sweep(sweep_dir)
        configs = {entry["run"]: RunConfig.from_dict(entry["config"]) for entry in planned["runs"]}
        job = JobRecord(self._new_id(), None, sweep_dir, next(iter(configs.values())), owner)
        job.sweep = SweepProgress(planned["grid"], tuple(configs), ())
        job.dataset, job.sweep_configs = dataset, configs
        return self._add(job, owner_name)

    def resume_run(
        self,
        run_dir: Path,
        *,
        dataset: Dataset | None = None,
        owner: str | None = None,
        owner_name: str | None = None,
    ) -> str:
        """Queue the continuation of an unfinished run folder (``lab.launch.prepare_resume``);
        its folder keeps the name of the student who first trained it."""
        run_dir = Path(run_dir)
        with self._lock:
            for job in self._jobs.values():
                if job.run_dir == run_dir and job.state in ACTIVE_STATES:
                    raise LabError(f"run {run_dir.name} is already being trained")
        prepared = prepare_resume(run_dir, dataset=dataset)
        if prepared.ended is not None and prepared.ended.complete:
            raise LabError(f"run {run_dir.name} has already ended: {prepared.ended.label}")
        job = JobRecord(self._new_id(), prepared, run_dir, prepared.config, owner)
        job.reason, job.resume = prepared.notice, prepared.resume
        if prepared.resume:
            job.history = list(runs.read_history(run_dir).to_dict("records"))
            job.epoch = len(job.history)
        return self._add(job, owner_name)

    def pause(self, job_id: str, *, by: str | None = None) -> None:
        """Pause a running job between two batches; its slot goes to the next queued job.
        ``by`` is the session asking: only the job's owner may pause, resume or stop it."""
        with self._lock:
            job = self._owned(job_id, by)
            if job.state == QUEUED:
                self._queue.remove(job_id)
                job.state = PAUSED
            elif job.state == RUNNING:
                job.control.pause()
                self._mark_inactive(job)
                job.state = PAUSED
            job.reason = None
            self._schedule()

    def resume(self, job_id: str, *, by: str | None = None) -> None:
        """Resume a paused or stopped job: it queues for a slot and continues where it was."""
        with self._lock:
            job = self._owned(job_id, by)
            if job.state not in (PAUSED, STOPPED):
                return
            job.state = QUEUED
            job.reason = None
            job.last_watched = self._clock()
            self._queue.append(job_id)
            self._schedule()

    def stop(self, job_id: str, *, by: str | None = None) -> None:
        """Stop a job at the next batch; its completed epochs stay in the run folder. A job
        stopped before it trained leaves the queue and removes its (still empty) folder."""
        with self._lock:
            self._stop(self._owned(job_id, by))

    # --- queries -------------------------------------------------------------------------------

    def snapshot(self, job_id: str, *, watch: bool = True) -> JobSnapshot:
        """The job's current state. ``watch`` records that someone is looking at it, which keeps
        it from being paused as idle."""
        with self._lock:
            job = self._job(job_id)
            if watch:
                job.last_watched = self._clock()
            return self._snapshot(job)

    def has_job(self, job_id: str | None) -> bool:
        with self._lock:
            return job_id is not None and job_id in self._jobs

    def jobs(self) -> list[JobSnapshot]:
        """Every job, newest first, without marking them as watched."""
        with self._lock:
            return [self._snapshot(job) for job in reversed(self._jobs.values())]

    def job_for_run(self, run_dir: Path) -> JobSnapshot | None:
        """The newest job that trains (or trained) ``run_dir``, if any."""
        run_dir = Path(run_dir)
        with self._lock:
            for job in reversed(self._jobs.values()):
                if job.run_dir == run_dir:
                    return self._snapshot(job)
        return None

    def wait(self, job_id: str, timeout: float, states: frozenset[str] = ENDED_STATES) -> str:
        """Block until the job is in one of ``states`` (default: ended) or ``timeout`` passes;
        returns the state it is in then."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._job(job_id).state not in states:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.5))
            return self._job(job_id).state

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stop every job and wait for their threads (for shutdown and tests)."""
        with self._lock:
            ids = list(self._jobs)
        with self._lock:
            for job_id in ids:
                self._stop(self._jobs[job_id])
        for job_id in ids:
            self.wait(job_id, timeout)

    # --- internals -----------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"job-{next(self._ids)}"

    def _add(self, job: JobRecord, owner_name: str | None) -> str:
        job.owner_name = runs.owner_name(owner_name or "") or None
        with self._lock:
            job.last_watched = self._clock()
            self._jobs[job.job_id] = job
            self._queue.append(job.job_id)
            self._schedule()
        return job.job_id

    def _job(self, job_id: str) -> JobRecord:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise LabError(
                f"no training job {job_id!r} in this app (it may have restarted)"
            ) from None

    def _owned(self, job_id: str, by: str | None) -> JobRecord:
        job = self._job(job_id)
        if not self._snapshot(job).owned_by(by):
            raise LabError(
                f"run {job.run_dir.name} was started in another browser session: you can watch "
                "it here, but only that session can pause, resume or stop it"
            )
        return job

    def _stop(self, job: JobRecord) -> None:
        if job.state not in (QUEUED, RUNNING, PAUSED):
            return
        if job.job_id in self._queue:
            self._queue.remove(job.job_id)
        if job.training:
            job.control.request_stop()
            self._mark_inactive(job)
            job.state = STOPPING
        else:
            job.state, job.outcome, job.reason = STOPPED, Outcome.STOPPED, Outcome.STOPPED.label
            if self._never_trained(job):
                # It never started: it leaves no folder behind and nothing to resume.
                if job.sweep is not None:
                    (job.run_dir / sweep.SWEEP_FILE).unlink(missing_ok=True)
                runs.remove_empty_run_dir(job.run_dir)
                job.state, job.prepared, job.dataset = CANCELLED, None, None
        self._schedule()

    @staticmethod
    def _never_trained(job: JobRecord) -> bool:
        if job.sweep is None:
            return not (job.run_dir / runs.CONFIG).exists()
        return not any((job.run_dir / name).exists() for name in job.sweep.runs)

    def _is_idle(self, job: JobRecord) -> bool:
        return self._clock() - job.last_watched > self.idle_pause_s

    def _idle_reason(self) -> str:
        return f"paused automatically: nobody watched it for {self.idle_pause_s:.0f} s"

    def _mark_inactive(self, job: JobRecord) -> None:
        if job.active_since is not None:
            job.active_s += self._clock() - job.active_since
            job.active_since = None

    def _schedule(self) -> None:
        """Start queued jobs while slots are free (lock held)."""
        busy = sum(1 for job in self._jobs.values() if job.state in (RUNNING, STOPPING))
        while self._queue and busy < self.max_running:
            job = self._jobs[self._queue.pop(0)]
            if self._is_idle(job):
                job.state, job.reason = PAUSED, self._idle_reason()
                continue
            job.state = RUNNING
            job.active_since = self._clock()
            if job.progress_at_start is None:
                job.progress_at_start = job.progress()
            if job.training:
                job.control.resume()  # its thread is waiting between two batches
            else:
                job.control = TrainControl()
                job.training = True
                threading.Thread(
                    target=self._train, args=(job,), name=f"cifar-lab-{job.job_id}", daemon=True
                ).start()
            busy += 1
        self._changed.notify_all()

    def _train(self, job: JobRecord) -> None:
        """Thread body: fit (or resume) the run, then record how it ended in one step."""
        ended, outcome, reason = FAILED, None, None
        error: str | None = "the training thread ended unexpectedly"
        metrics: dict | None = None
        try:
            if job.owner_name and not (job.run_dir / runs.OWNER).exists():
                runs.write_owner(job.run_dir, job.owner_name)
            if job.sweep is not None:
                outcome, reason = self._run_sweep(job)
                metrics = None
            else:
                result = fit(
                    replace(job.prepared, resume=job.resume),
                    control=job.control,
                    callbacks=(lambda event: self._on_event(job, event),),
                    device=self.device,
                )
                outcome, reason, metrics = result.outcome, result.reason, result.metrics
            ended = STOPPED if outcome is Outcome.STOPPED else FINISHED
            error = None
        except LabError as failure:
            error = str(failure)
        except Exception as failure:  # the job must always end in a state the page can show
            log.exception("training job %s crashed", job.job_id)
            error = f"{type(failure).__name__}: {failure}"
        finally:
            with self._lock:
                job.training = False
                job.state, job.outcome, job.reason, job.error = ended, outcome, reason, error
                if metrics is not None:
                    job.metrics = dict(metrics)
                self._mark_inactive(job)
                if ended != STOPPED:
                    job.prepared = job.dataset = None  # only a stopped job can resume
                job.resume = (job.run_dir / runs.LAST).exists()
                self._schedule()

    def _run_sweep(self, job: JobRecord) -> tuple[Outcome, str]:
        """Thread body of a sweep job: its runs in turn, each run's events and results folded
        into the job record; (outcome, reason) of the sweep as a whole."""
        with self._lock:
            job.sweep = replace(job.sweep, results=())  # run_sweep reports the done ones again
            job.between_runs = True

        def on_result(result: dict) -> None:
            with self._lock:
                job.sweep = replace(job.sweep, results=(*job.sweep.results, result))

        ended = sweep.run_sweep(
            job.run_dir,
            dataset=job.dataset,
            device=self.device,
            control=job.control,
            callbacks=(lambda event: self._on_event(job, event),),
            on_result=on_result,
        )
        if ended["state"] == sweep.STOPPED:
            return Outcome.STOPPED, Outcome.STOPPED.label
        return Outcome.FINISHED, f"finished: {sweep.describe(ended)}"

    def _on_event(self, job: JobRecord, event: object) -> None:
        """Training-thread callback: fold an engine event into the job record."""
        with self._lock:
            if job.between_runs and isinstance(event, (BatchEvent, EpochEvent)):
                self._next_run(job)
            if isinstance(event, BatchEvent):
                job.epoch, job.batch, job.batches = event.epoch, event.batch, event.batches
                job.images_per_s = event.images_per_s
                if math.isfinite(event.loss):
                    step = len(job.batch_losses) + 1
                    job.loss_average = (
                        LOSS_SMOOTHING * job.loss_average + (1 - LOSS_SMOOTHING) * event.loss
                    )
                    smoothed = job.loss_average / (1 - LOSS_SMOOTHING**step)
                    job.batch_losses.append(BatchLoss(step, event.epoch, event.loss, smoothed))
                if job.state == RUNNING and self._is_idle(job):
                    job.control.pause()  # honoured before the next batch
                    self._mark_inactive(job)
                    job.state, job.reason = PAUSED, self._idle_reason()
                    self._schedule()
            elif isinstance(event, EpochEvent):
                job.epoch, job.batch = event.epoch, job.batches
                job.history.append(dict(event.row))
                job.best_epoch = event.best_epoch or None
                job.best_value = event.best_value
                job.patience_counter = event.patience_counter
            elif isinstance(event, EndEvent):
                job.metrics = dict(event.metrics)
                job.between_runs = job.sweep is not None
            self._changed.notify_all()

    @staticmethod
    def _next_run(job: JobRecord) -> None:
        """A sweep's next run has started: the per-run fields start afresh (lock held)."""
        job.between_runs = False
        job.config = job.sweep_configs[job.sweep.current]
        job.epoch = job.batch = job.batches = job.patience_counter = 0
        job.history, job.batch_losses, job.loss_average = [], [], 0.0
        job.best_epoch = job.best_value = None

    def _snapshot(self, job: JobRecord) -> JobSnapshot:
        position = self._queue.index(job.job_id) + 1 if job.job_id in self._queue else None
        return JobSnapshot(
            job_id=job.job_id,
            run_dir=job.run_dir,
            state=job.state,
            config=job.config,
            owner=job.owner,
            owner_name=job.owner_name,
            epoch=job.epoch,
            epochs=job.config.train.epochs,
            batch=job.batch,
            batches=job.batches,
            progress=job.progress(),
            images_per_s=job.images_per_s,
            eta_s=job.eta_s(self._clock()),
            history=tuple(job.history),
            batch_losses=tuple(job.batch_losses),
            best_epoch=job.best_epoch,
            best_value=job.best_value,
            patience_counter=job.patience_counter,
            patience=job.config.train.patience,
            outcome=job.outcome,
            parked=job.control.parked.is_set(),
            reason=job.reason,
            error=job.error,
            queue_position=position,
            metrics=dict(job.metrics),
            sweep=job.sweep,
        )
