"""Which snapshots of best.pt a sweep keeps while training with its largest patience."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import runs
from lab.config import RunConfig
from lab.patience_snapshots import (
    BestSnapshots,
    drop_snapshots,
    keep_for_patience,
    patience_checkpoint,
    snapshot_name,
)
from tests.conftest import tiny_config


def train_epochs(run_dir: Path, config: RunConfig, values: list[float], patience: list[int]):
    """Play the run's epochs as fit would: each epoch's row lands in the history, and an epoch
    that improves rewrites best.pt (by a rename, as fit does) before the callback hears of it."""
    snapshots = BestSnapshots(run_dir, config, patience)
    best = None
    history = []
    for epoch, value in enumerate(values, start=1):
        history.append({"epoch": epoch, "val_acc": value})
        runs.write_history(run_dir, history)
        if best is None or value > best:
            best = value
            written = run_dir / "best.tmp"
            written.write_text(f"weights of epoch {epoch}")
            written.replace(run_dir / runs.BEST)
            snapshots.keep(epoch)
    return sorted(int(p.stem.removeprefix("best-epoch")) for p in run_dir.glob("best-epoch*.pt"))


@pytest.mark.parametrize(
    ("values", "patience", "kept"),
    [
        # Always improving: no smaller patience stops early, only the latest best is kept.
        ([0.1, 0.2, 0.3, 0.4], [0, 1, 4], [4]),
        # Patience 0 stops after epoch 3 (epoch 2 best), before epoch 4's improvement.
        ([0.1, 0.5, 0.4, 0.6], [0, 4], [2, 4]),
        # Patience 1 waits through epoch 3 and sees epoch 4: only patience 0 needs epoch 2.
        ([0.1, 0.5, 0.4, 0.6], [1, 4], [4]),
        # Two smaller values that stop at different bests keep one snapshot each.
        ([0.5, 0.4, 0.6, 0.55, 0.5, 0.45, 0.7], [0, 2, 6], [1, 3, 7]),
    ],
)
def test_only_the_bests_a_smaller_patience_keeps_stay(
    tmp_path, tiny_folder, values, patience, kept
):
    config = tiny_config(tiny_folder, epochs=len(values), patience=max(patience))
    assert train_epochs(tmp_path, config, values, patience) == kept


def test_a_snapshot_keeps_its_epochs_weights_after_best_pt_moves_on(tmp_path, tiny_folder):
    config = tiny_config(tiny_folder, epochs=4, patience=4)
    train_epochs(tmp_path, config, [0.1, 0.5, 0.4, 0.6], [0, 4])
    assert (tmp_path / runs.BEST).read_text() == "weights of epoch 4"
    assert keep_for_patience(tmp_path, 2, 0) == patience_checkpoint(0)
    assert (tmp_path / patience_checkpoint(0)).read_text() == "weights of epoch 2"
    drop_snapshots(tmp_path)
    assert not list(tmp_path.glob("best-epoch*.pt"))
    assert (tmp_path / patience_checkpoint(0)).read_text() == "weights of epoch 2"


def test_a_snapshot_lost_to_a_kill_keeps_no_checkpoint(tmp_path):
    assert not (tmp_path / snapshot_name(3)).exists()
    assert keep_for_patience(tmp_path, 3, 1) is None
