"""The best weights of every patience value a sweep replays, kept while one may need them.

A sweep trains each combination once, with its largest patience, and replays the smaller ones
from the history (see ``lab.sweep``). A smaller patience that stops before a later improvement
keeps an earlier epoch's weights, which ``best.pt`` no longer holds by the end. So whenever an
epoch improves, ``best.pt`` is hard-linked to ``best-epoch<N>.pt`` (``best.pt`` is later
replaced by a rename, so the link keeps the old file for free), and each such snapshot is
deleted as soon as no smaller patience can need it. At most one snapshot per patience value
lives at a time; at the end the needed ones become ``best-p<N>.pt``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from lab import runs
from lab.config import RunConfig
from lab.early_stopping import replay
from lab.train import EpochEvent

SNAPSHOT_PREFIX = "best-epoch"


def snapshot_name(epoch: int) -> str:
    return f"{SNAPSHOT_PREFIX}{epoch}.pt"


def _snapshots(run_dir: Path) -> dict[int, Path]:
    """The snapshots in a run folder, by epoch."""
    found = {}
    for path in run_dir.glob(f"{SNAPSHOT_PREFIX}*.pt"):
        epoch = path.stem.removeprefix(SNAPSHOT_PREFIX)
        if epoch.isdigit():
            found[int(epoch)] = path
    return found


def patience_checkpoint(patience: int) -> str:
    return f"best-p{patience}.pt"


def _link(source: Path, target: Path) -> None:
    """``target`` as a second name of ``source`` (a copy where links are not supported)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _monitored(run_dir: Path, monitor: str) -> list[float]:
    return runs.read_history(run_dir)[monitor].astype(float).tolist()


class BestSnapshots:
    """A ``fit`` callback that keeps, of every improving epoch's ``best.pt``, the ones a
    smaller patience value will need (see the module docstring)."""

    def __init__(self, run_dir: Path, config: RunConfig, patience: Sequence[int]) -> None:
        self.run_dir = run_dir
        self.train = config.train
        self.smaller = sorted(p for p in patience if p < config.train.patience)

    def __call__(self, event: object) -> None:
        if isinstance(event, EpochEvent) and event.improved:
            self.keep(event.epoch)

    def keep(self, best_epoch: int) -> None:
        """``best.pt`` holds ``best_epoch``: link it, and drop the snapshots no one needs."""
        _link(self.run_dir / runs.BEST, self.run_dir / snapshot_name(best_epoch))
        values = _monitored(self.run_dir, self.train.monitor)
        needed = {best_epoch}
        for patience in self.smaller:
            outcome = replay(values, patience, self.train.monitor_mode, self.train.min_delta)
            if outcome["stop_epoch"] is not None:
                needed.add(outcome["best_epoch"])
        for epoch, snapshot in _snapshots(self.run_dir).items():
            if epoch not in needed:
                snapshot.unlink(missing_ok=True)


def keep_for_patience(run_dir: Path, epoch: int, patience: int) -> str | None:
    """Keep the snapshot of ``epoch`` as the checkpoint of ``patience``; its name, or None when
    the snapshot is gone (a kill before it was linked, on a file system without links)."""
    snapshot, kept = run_dir / snapshot_name(epoch), run_dir / patience_checkpoint(patience)
    if snapshot.exists():
        _link(snapshot, kept)
    return kept.name if kept.exists() else None


def drop_snapshots(run_dir: Path) -> None:
    """Delete the run's remaining snapshots, once every patience has its checkpoint."""
    for snapshot in _snapshots(run_dir).values():
        snapshot.unlink(missing_ok=True)
