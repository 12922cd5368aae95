"""CPU users reach the notebook's accuracy in minutes: wall time until test accuracy >= 83%.

Trains a preset end to end through `lab.train.fit` (the path the CLI and the app use), scoring
the test split after every epoch only to watch for the target (the run itself still selects on
its validation split). The clock starts before the data is loaded. Prints each epoch, the time
the target was first reached, the accuracy at the end, and the peak memory; the last line is
`minutes_to_83: X` (or `minutes_to_83: not reached`).

    export CIFAR_LAB_DATA=../shared/data/cifar10-jpeg
    python benchmarks/time_to_accuracy.py --preset cpu-fast
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import data_source, machine, peak_rss_gb, pick_device

from lab import runs
from lab.data import load_dataset, make_splits
from lab.presets import PRESET_NAMES, preset_config
from lab.train import EpochEvent, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESET_NAMES, default="cpu-fast")
    parser.add_argument("--target", type=float, default=0.83)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    device = pick_device(args.device)
    print(f"machine: {machine()}")
    config = preset_config(args.preset, data_source()).with_overrides(train={"eval_test": True})
    splits = make_splits(load_dataset(config.data.source), config.data)
    print(
        f"preset {args.preset}: {config.model.name}, {len(splits.train)} training images, "
        f"data ready after {time.perf_counter() - start:.1f} s"
    )
    reached: dict = {}

    def watch(event: object) -> None:
        if not isinstance(event, EpochEvent):
            return
        elapsed = time.perf_counter() - start
        row = event.row
        val = f"val {row['val_acc']:.4f} " if row["val_acc"] is not None else ""
        print(
            f"epoch {event.epoch:>2}  {elapsed / 60:5.2f} min  train {row['train_acc']:.4f}  "
            f"{val}test {row['test_acc']:.4f}  {row['images_per_s']:.0f} img/s",
            flush=True,
        )
        if row["test_acc"] >= args.target and "minutes" not in reached:
            reached.update(minutes=elapsed / 60, epoch=event.epoch, acc=row["test_acc"])

    with tempfile.TemporaryDirectory() as folder:
        run_dir = runs.create_run_dir(Path(folder), args.preset)
        result = fit(config, run_dir, splits=splits, callbacks=(watch,), device=device)
    total = (time.perf_counter() - start) / 60
    final = result.history[-1]["test_acc"]
    print(f"stopped: {result.reason}; whole run {total:.2f} min")
    print(
        f"test accuracy at the end of the preset: {final:.4f}; best checkpoint "
        f"(epoch {result.metrics['best_epoch']}, chosen on {config.train.monitor}): "
        f"{result.metrics['test_acc']:.4f}"
    )
    print(f"peak_rss_gb: {peak_rss_gb():.2f}")
    if reached:
        print(f"reached {args.target:.0%} at epoch {reached['epoch']} ({reached['acc']:.4f})")
        print(f"minutes_to_{round(args.target * 100)}: {reached['minutes']:.2f}")
    else:
        print(f"minutes_to_{round(args.target * 100)}: not reached")


if __name__ == "__main__":
    main()
