"""The background job manager against the real training engine on the tiny image folder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lab import jobs, runs
from lab.data import load_dataset
from lab.device import pick_device
from lab.errors import ConfigError, LabError
from lab.jobs import JobManager
from lab.outcome import Outcome
from lab.presets import preset_config
from lab.sweep import create_sweep, read_sweep
from tests.waiting import wait_until


def tiny_config(source: Path, epochs: int, patience: int | None = None, batch_size: int = 16):
    """cpu-fast at the smallest width: a few milliseconds per batch on the tiny folder."""
    return preset_config("cpu-fast", str(source)).with_overrides(
        model={"width": 0.125},
        train={
            "epochs": epochs,
            "batch_size": batch_size,
            "patience": epochs if patience is None else patience,
            "eval_batch_size": 64,
            "tta_flip": False,
        },
    )


def training_thread_alive(job_id: str) -> bool:
    return any(thread.name == f"cifar-lab-{job_id}" for thread in threading.enumerate())


@pytest.fixture
def manager():
    made = JobManager(max_running=1, idle_pause_s=600, device=pick_device("cpu"))
    yield made
    made.stop_all()


def test_a_job_trains_in_the_background_and_its_history_grows(manager, tiny_folder, tmp_path):
    job_id = manager.submit(tiny_config(tiny_folder, epochs=3), tmp_path, name="grow")
    seen_lengths = set()

    def finished():
        snap = manager.snapshot(job_id)
        seen_lengths.add(len(snap.history))
        return snap.state == jobs.FINISHED

    wait_until(finished, interval=0.01)
    snap = manager.snapshot(job_id)
    assert snap.error is None
    assert [row["epoch"] for row in snap.history] == [1, 2, 3]
    assert len(seen_lengths) >= 2  # polled while it trained, not only after
    assert snap.progress == 1.0
    assert snap.batch_losses and snap.batch_losses[-1].step == len(snap.batch_losses)
    assert snap.images_per_s and snap.images_per_s > 0
    assert snap.best_epoch in (1, 2, 3)
    assert snap.outcome is Outcome.FINISHED and snap.metrics["outcome"] == "finished"
    assert snap.reason == snap.metrics["reason"] and "3" in snap.reason
    assert snap.metrics["epochs_run"] == 3
    assert snap.run_dir == tmp_path / "grow"
    assert (snap.run_dir / runs.BEST).exists() and (snap.run_dir / runs.LAST).exists()


def test_stop_stops_and_resume_continues_from_last_checkpoint(manager, tiny_folder, tmp_path):
    job_id = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path)
    wait_until(lambda: len(manager.snapshot(job_id).history) >= 2)
    manager.stop(job_id)
    assert manager.wait(job_id, 60) == jobs.STOPPED
    stopped = manager.snapshot(job_id)
    assert stopped.outcome is Outcome.STOPPED and stopped.resumable
    assert not training_thread_alive(job_id)  # really stopped: nothing trains any more
    assert len(runs.read_history(stopped.run_dir)) == len(stopped.history)

    manager.resume(job_id)
    wait_until(lambda: len(manager.snapshot(job_id).history) >= len(stopped.history) + 2)
    manager.stop(job_id)
    manager.wait(job_id, 60)
    epochs = runs.read_history(stopped.run_dir)["epoch"].tolist()
    assert epochs == list(range(1, len(epochs) + 1))  # one continuous history
    assert len(epochs) >= len(stopped.history) + 2


def test_pause_holds_the_job_and_resume_releases_it(manager, tiny_folder, tmp_path):
    job_id = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path)
    wait_until(lambda: len(manager.snapshot(job_id).history) >= 1)
    manager.pause(job_id)
    assert manager.snapshot(job_id).state == jobs.PAUSED
    # The batch in flight (and at most its epoch's evaluation) completes, then the thread parks.
    held = wait_until(lambda: (snap := manager.snapshot(job_id)).parked and snap)
    assert training_thread_alive(job_id)  # held, not ended: it continues where it was
    assert len(manager.snapshot(job_id).batch_losses) == len(held.batch_losses)
    manager.resume(job_id)
    assert manager.snapshot(job_id).state == jobs.RUNNING
    wait_until(lambda: len(manager.snapshot(job_id).batch_losses) > len(held.batch_losses))


def test_cap_of_one_queues_the_second_job_in_its_own_folder(manager, tiny_folder, tmp_path):
    first = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path, owner="tab-a")
    second = manager.submit(tiny_config(tiny_folder, epochs=1), tmp_path, owner="tab-b")
    waiting = manager.snapshot(second)
    assert manager.snapshot(first).state == jobs.RUNNING
    assert waiting.state == jobs.QUEUED and waiting.queue_position == 1
    assert waiting.run_dir != manager.snapshot(first).run_dir
    wait_until(lambda: len(manager.snapshot(first).history) >= 1)
    assert manager.snapshot(second).state == jobs.QUEUED  # still waiting while the first trains

    manager.stop(first, by="tab-a")
    assert manager.wait(second, 60) == jobs.FINISHED
    assert (waiting.run_dir / runs.BEST).exists()
    assert manager.snapshot(first).state == jobs.STOPPED


class FakeClock:
    """A clock the test moves by hand: the manager's active and paused time, exactly."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_job_nobody_polls_is_paused_and_can_be_resumed(tiny_folder, tmp_path):
    # The test moves the clock: with real time, a batch that ends between the two jobs' idle
    # deadlines starts the queued job instead of pausing it (CI saw it on a busy host).
    clock = FakeClock()
    manager = JobManager(max_running=1, idle_pause_s=1.0, device=pick_device("cpu"), clock=clock)
    try:
        job_id = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path)
        queued = manager.submit(tiny_config(tiny_folder, epochs=1), tmp_path)
        wait_until(lambda: manager.snapshot(job_id, watch=False).progress > 0)
        assert manager.snapshot(queued, watch=False).state == jobs.QUEUED
        clock.now = 2.0  # nobody has watched either job for 2 s
        # The running one pauses itself, and the queued one is paused instead of being started
        # in its place.
        assert manager.wait(job_id, 60, states=frozenset({jobs.PAUSED})) == jobs.PAUSED
        idle = wait_until(lambda: (snap := manager.snapshot(job_id, watch=False)).parked and snap)
        assert idle.reason.startswith("paused automatically")
        assert manager.snapshot(queued, watch=False).state == jobs.PAUSED
        assert not training_thread_alive(queued)
        assert len(manager.snapshot(job_id, watch=False).batch_losses) == len(idle.batch_losses)

        manager.resume(job_id)
        wait_until(lambda: len(manager.snapshot(job_id).batch_losses) > len(idle.batch_losses))
        assert manager.snapshot(job_id).state == jobs.RUNNING
    finally:
        manager.stop_all()


def test_an_impossible_config_is_refused_at_once_and_leaves_nothing(manager, tiny_folder, tmp_path):
    with pytest.raises(ConfigError, match="batch_size 4096 is larger than the training split") as e:
        manager.submit(tiny_config(tiny_folder, epochs=1, batch_size=4096), tmp_path / "runs")
    assert e.value.setting == "batch_size"
    assert not (tmp_path / "runs").exists() and manager.jobs() == []


def test_only_the_owner_controls_a_job_and_others_may_watch(manager, tiny_folder, tmp_path):
    job_id = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path, owner="tab-a")
    wait_until(lambda: len(manager.snapshot(job_id).history) >= 1)
    for command in (manager.pause, manager.stop, manager.resume):
        with pytest.raises(LabError, match="started in another browser session"):
            command(job_id, by="tab-b")
    watched = manager.snapshot(job_id)
    assert watched.state == jobs.RUNNING
    assert watched.owned_by("tab-a") and not watched.owned_by("tab-b")
    manager.pause(job_id, by="tab-a")
    assert manager.snapshot(job_id).state == jobs.PAUSED


def test_a_job_records_its_students_name_in_the_run_folder_once_it_trains(
    manager, tiny_folder, tmp_path
):
    student = {"owner": "browser-key-a", "owner_name": "Ada"}
    first = manager.submit(tiny_config(tiny_folder, epochs=1), tmp_path, name="ada", **student)
    never = manager.submit(tiny_config(tiny_folder, epochs=1), tmp_path, name="never", **student)
    assert manager.snapshot(first).owner_name == manager.snapshot(never).owner_name == "Ada"
    manager.stop(never, by="browser-key-a")  # cancelled before it trained: it leaves no folder
    assert not (tmp_path / "never").exists()
    assert manager.wait(first, 60) == jobs.FINISHED
    assert runs.read_owner(tmp_path / "ada") == "Ada"


def test_a_queued_job_stopped_before_it_trained_leaves_nothing(manager, tiny_folder, tmp_path):
    first = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path)
    second = manager.submit(tiny_config(tiny_folder, epochs=1), tmp_path, name="never")
    assert manager.snapshot(second).state == jobs.QUEUED and (tmp_path / "never").is_dir()
    manager.stop(second)
    cancelled = manager.snapshot(second)
    assert cancelled.state == jobs.CANCELLED and not cancelled.resumable
    assert cancelled.queue_position is None and not (tmp_path / "never").exists()
    assert manager.snapshot(first).state == jobs.RUNNING


def test_an_unfinished_run_folder_resumes_in_a_new_manager(manager, tiny_folder, tmp_path):
    job_id = manager.submit(tiny_config(tiny_folder, epochs=4), tmp_path)
    wait_until(lambda: len(manager.snapshot(job_id).history) >= 1)
    manager.stop(job_id)
    manager.wait(job_id, 60)
    run_dir = manager.snapshot(job_id).run_dir
    done = len(manager.snapshot(job_id).history)

    fresh = JobManager(max_running=1, idle_pause_s=600, device=pick_device("cpu"))
    resumed = fresh.resume_run(run_dir)
    assert fresh.snapshot(resumed).history[-1]["epoch"] == done
    assert fresh.wait(resumed, 60) == jobs.FINISHED
    assert [row["epoch"] for row in fresh.snapshot(resumed).history] == [1, 2, 3, 4]


def test_eta_counts_only_active_time_across_pauses(tiny_folder, tmp_path):
    clock = FakeClock()
    manager = JobManager(max_running=1, idle_pause_s=10**9, device=pick_device("cpu"), clock=clock)
    try:
        job_id = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path)
        wait_until(lambda: manager.snapshot(job_id).progress > 0)
        clock.now = 100.0  # 100 s of training
        first = manager.snapshot(job_id)
        assert first.eta_s == pytest.approx(100.0 * (1 - first.progress) / first.progress)

        manager.pause(job_id)
        wait_until(lambda: manager.snapshot(job_id).parked)
        clock.now = 5_000.0  # a long pause: it must not count
        manager.resume(job_id)
        progress_at_resume = manager.snapshot(job_id).progress
        wait_until(lambda: manager.snapshot(job_id).progress > progress_at_resume)
        clock.now = 5_050.0  # 50 s more of training: 150 s active in all
        later = manager.snapshot(job_id)
        assert later.eta_s == pytest.approx(150.0 * (1 - later.progress) / later.progress)
    finally:
        manager.stop_all()


def test_a_sweep_trains_its_runs_in_one_job_and_reports_every_combination(
    manager, tiny_folder, tmp_path
):
    config = tiny_config(tiny_folder, epochs=2)
    sweep_dir = create_sweep(config, {"lr": [1e-3, 3e-3], "patience": [0, 2]}, tmp_path)
    dataset = load_dataset(str(tiny_folder))
    job_id = manager.submit_sweep(sweep_dir, dataset=dataset, owner="tab-a")
    seen = set()

    def finished():
        snap = manager.snapshot(job_id)
        seen.add((snap.sweep.current, snap.sweep.done))
        return snap.state == jobs.FINISHED

    wait_until(finished, interval=0.01)
    snap = manager.snapshot(job_id)
    assert snap.error is None and snap.outcome is Outcome.FINISHED, snap.error
    assert snap.run_dir == sweep_dir and snap.progress == 1.0
    assert snap.sweep.runs == ("lr0.001-bs16-ep2", "lr0.003-bs16-ep2")
    assert snap.sweep.done == 2 and snap.sweep.current is None
    assert [(r["lr"], r["patience"]) for r in snap.sweep.results] == [
        (1e-3, 0),
        (1e-3, 2),
        (3e-3, 0),
        (3e-3, 2),
    ]
    assert ("lr0.003-bs16-ep2", 1) in seen  # the second run was seen in training
    assert snap.config.train.lr == 3e-3  # the fields of the last run trained
    assert read_sweep(sweep_dir)["state"] == "finished"


def test_a_sweep_is_stopped_as_a_whole_by_its_owner_and_resumes(manager, tiny_folder, tmp_path):
    config = tiny_config(tiny_folder, epochs=400)
    sweep_dir = create_sweep(config, {"lr": [1e-3, 3e-3]}, tmp_path, name="grid")
    job_id = manager.submit_sweep(sweep_dir, dataset=load_dataset(str(tiny_folder)), owner="a")
    wait_until(lambda: len(manager.snapshot(job_id).history) >= 1)
    with pytest.raises(LabError, match="started in another browser session"):
        manager.stop(job_id, by="b")
    manager.stop(job_id, by="a")
    assert manager.wait(job_id, 60) == jobs.STOPPED
    stopped = manager.snapshot(job_id)
    assert stopped.resumable and stopped.sweep.done == 0
    assert [run["state"] for run in read_sweep(sweep_dir)["runs"]] == ["stopped", "pending"]
    assert not (sweep_dir / "lr0.003-bs16-ep400").exists()  # the second run never started

    manager.resume(job_id, by="a")
    # The first run goes on from its last.pt: its next epoch follows the ones it trained.
    trained = len(stopped.history)
    resumed = wait_until(
        lambda: (
            (history := manager.snapshot(job_id).history)
            and history[-1]["epoch"] > trained
            and history
        )
    )
    assert resumed[0]["epoch"] == trained + 1
    assert manager.snapshot(job_id).sweep.current == "lr0.001-bs16-ep400"


def test_a_queued_sweep_stopped_before_it_trained_leaves_nothing(manager, tiny_folder, tmp_path):
    first = manager.submit(tiny_config(tiny_folder, epochs=400), tmp_path)
    sweep_dir = create_sweep(tiny_config(tiny_folder, epochs=1), {"lr": [1e-3]}, tmp_path)
    queued = manager.submit_sweep(sweep_dir, dataset=load_dataset(str(tiny_folder)))
    assert manager.snapshot(queued).state == jobs.QUEUED
    manager.stop(queued)
    assert manager.snapshot(queued).state == jobs.CANCELLED
    assert not sweep_dir.exists()
    assert manager.snapshot(first).state == jobs.RUNNING
