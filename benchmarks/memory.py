"""Peak resident memory of real training runs, one fresh process per preset.

Each child process loads the whole data set, trains one epoch of the preset on a stratified
subset (so the notebook preset at 227 px finishes in minutes on a CPU) and evaluates as the
preset does (the notebook preset scores all 10,000 test images at 227 px in batches of 1000),
then reports its peak RSS. The last line is `peak_rss_gb_notebook: X`.

    CIFAR_LAB_DATA=../shared/data/cifar10-jpeg python benchmarks/memory.py [--subset 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import data_source, machine, peak_rss_gb

from lab.fit import fit
from lab.launch import prepare_run
from lab.presets import preset_config

LIMITS_GB = {"cpu-fast": 2.5, "notebook": 6.0}


def child(preset: str, subset: int) -> None:
    config = preset_config(preset, data_source()).with_overrides(
        data={"subset": subset}, train={"epochs": 1}
    )
    with tempfile.TemporaryDirectory() as folder:
        fit(prepare_run(config, Path(folder)))
    print(json.dumps({"preset": preset, "peak_rss_gb": peak_rss_gb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.subset)
        return
    print(f"machine: {machine()}")
    results = {}
    for preset in LIMITS_GB:
        out = subprocess.run(
            [sys.executable, __file__, "--child", preset, "--subset", str(args.subset)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[preset] = json.loads(out.strip().splitlines()[-1])["peak_rss_gb"]
        print(f"{preset:>9}: peak RSS {results[preset]:.2f} GB (goal <= {LIMITS_GB[preset]} GB)")
    print(f"peak_rss_gb_cpu_fast: {results['cpu-fast']:.2f}")
    print(f"peak_rss_gb_notebook: {results['notebook']:.2f}")


if __name__ == "__main__":
    main()
