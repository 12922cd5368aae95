"""The training job this tab follows, as the sidebar and the Train page show it: its current
snapshot, its state in words and its one-line status, and whose it is; and the server's other
jobs."""

from __future__ import annotations

from app.cache import job_manager
from app.state import job
from lab import jobs
from lab.board import NO_NAME
from lab.jobs import JobSnapshot

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
# Why a session cannot pause, resume or stop a job it watches.
ANOTHER_SESSION = (
    "started in another browser session: you can watch it here, but only that session can "
    "pause, resume or stop it."
)
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


def current_snapshot() -> JobSnapshot | None:
    """The job this tab follows, marked as watched; None if there is none (any more)."""
    manager = job_manager()
    job_id = job.job_id()
    if not manager.has_job(job_id):
        return None
    return manager.snapshot(job_id)


def others_active(snap: JobSnapshot | None) -> list[JobSnapshot]:
    """The server's other active jobs (another tab's, say)."""
    return [
        other
        for other in job_manager().jobs()
        if other.active and (snap is None or other.job_id != snap.job_id)
    ]


def classmates() -> list[JobSnapshot]:
    """The jobs the Train page lists above this tab's own, newest first: every other active
    job on the server, and the one this browser opened read-only, ended or not (until it is
    closed). Read without marking them as watched: only their own tabs keep them going."""
    own, opened = job.job_id(), job.viewing()
    return [
        other
        for other in job_manager().jobs()
        if other.job_id != own and (other.active or other.job_id == opened)
    ]


def owner_label(snap: JobSnapshot) -> str:
    """Whose job it is, as the page says it: "you", or the name its student gave."""
    if snap.owner == job.owner():
        return "you"
    return snap.owner_name or NO_NAME


def format_metric(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if name.endswith("_acc") else f"{value:.4f}"


def status_line(snap: JobSnapshot) -> str:
    """One line for the sidebar: state, epoch, best value, and whose job it is."""
    label = f"{STATE_ICONS[snap.state]} **{STATE_LABELS[snap.state]}** `{snap.run_name}`"
    if not snap.owned_by(job.owner()):
        label += "  \n(watching: started in another browser session)"
    if snap.state == jobs.QUEUED and snap.queue_position:
        return f"{label}  \nposition {snap.queue_position} in the queue"
    if snap.state == jobs.CANCELLED:
        return f"{label}  \ncancelled before it started"
    runs = len(snap.sweep.runs) if snap.sweep else 0
    parts = [f"run {min(snap.sweep.done + 1, runs)} of {runs}"] if snap.sweep else []
    parts.append(f"epoch {snap.epoch} of {snap.epochs}")
    if snap.best_value is not None:
        parts.append(f"best {format_metric(snap.monitor, snap.best_value)}")
    return f"{label}  \n{' · '.join(parts)}"
