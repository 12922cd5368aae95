"""What the checkpoints written inside an epoch cost, as a share of training time.

At the default interval (``checkpoint_every_s``, 60 s) a run writes ``last.pt`` at most once a
minute of training, so the share is the time of one write over 60 s. One write is timed as
``fit`` does it: the payload of a preset's real model and Adam state (one step taken, so its two
moments exist), built and written through ``ModelCheckpoint.batch_end`` (``torch.save`` to a
temp file, fsync, rename, fsync of the folder) into a folder on the disk runs go to (``--dir``,
default: a temp folder in the working folder). The last line is
``checkpoint_overhead_pct_notebook: X`` (goal: under 5).

    python benchmarks/checkpoint_overhead.py [--writes 5] [--dir runs]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import machine

from lab.checkpoint import EpochPosition, training_payload
from lab.config import TrainConfig
from lab.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, ImageSet, Splits
from lab.early_stopping import EarlyStopping
from lab.fit import ModelCheckpoint
from lab.models import build_model
from lab.optim import make_optimizer, make_scheduler
from lab.presets import preset_config

GOAL_PCT = 5.0
INTERVAL_S = TrainConfig().checkpoint_every_s


def write_seconds(preset: str, folder: Path, writes: int) -> tuple[float, float]:
    """Median seconds of one mid-epoch write of ``preset``'s last.pt, and its size in MB."""
    config = preset_config(preset, "cifar10")
    device = torch.device("cpu")
    model = build_model(config.model, num_classes=len(CIFAR10_CLASSES))
    optimizer = make_optimizer(model, config.train, device)
    scheduler = make_scheduler(optimizer, config.train, steps_per_epoch=781)
    size = config.input_size
    loss = model(torch.randn(2, 3, size, size)).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()  # Adam's moments now exist, as in any checkpoint after the first batch
    empty = ImageSet(torch.zeros(0, 3, 32, 32, dtype=torch.uint8), torch.zeros(0).long())
    splits = Splits(CIFAR10_CLASSES, empty, None, empty, CIFAR10_MEAN, CIFAR10_STD)
    stopper = EarlyStopping(config.train.patience, config.train.monitor_mode)
    position = EpochPosition(1, 100, 150.0, 3000, 6400, 55.0, config.train.lr)
    saver = ModelCheckpoint(folder, every_s=0.0)  # 0: every call writes, as a due write does

    def payload() -> dict:
        return training_payload(
            config, splits, model, optimizer, scheduler, stopper, [], 60.0, None, "", position
        )

    times = []
    for _ in range(writes):
        start = time.perf_counter()
        saver.batch_end(payload)
        times.append(time.perf_counter() - start)
    return statistics.median(times), (folder / "last.pt").stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=5)
    parser.add_argument("--dir", default=".", help="folder on the disk to write to")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"interval: {INTERVAL_S:g} s of training between two writes inside an epoch")
    shares = {}
    for preset in ("cpu-fast", "notebook"):
        with tempfile.TemporaryDirectory(prefix="checkpoint-overhead-", dir=args.dir) as folder:
            seconds, mb = write_seconds(preset, Path(folder), args.writes)
        shares[preset] = 100 * seconds / INTERVAL_S
        print(
            f"{preset:>9}: last.pt {mb:.0f} MB, one write {seconds:.2f} s (median of "
            f"{args.writes}) = {shares[preset]:.2f}% of training time (goal < {GOAL_PCT:g}%)"
        )
    print(f"checkpoint_overhead_pct_cpu_fast: {shares['cpu-fast']:.2f}")
    print(f"checkpoint_overhead_pct_notebook: {shares['notebook']:.2f}")


if __name__ == "__main__":
    main()
