"""benchmarks/compute_bound.py: its whole path on the smallest preset, so the script cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_it_times_every_convolution_and_bounds_the_schedule():
    command = [sys.executable, str(ROOT / "benchmarks" / "compute_bound.py")]
    command += ["--preset", "cpu-1min", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # cpu-1min's five convolutions, the stem first (its input is the images: no input gradient).
    rows = [line for line in lines if line.startswith("features.")]
    assert len(rows) == 5 and "bias only" in rows[0]
    assert all(re.search(r"\d+ GFLOP/s +\d+ GFLOP/s", row) for row in rows[1:])
    # Its three epochs grow from 16 px to 32 px, and each image size is timed.
    assert "3 epochs of 48,000 images at 16/24/32 px" in done.stdout
    assert re.search(r"16 px \d+ img/s, 24 px \d+ img/s, 32 px \d+ img/s", done.stdout)
    floor = re.fullmatch(r"floor_minutes: (\d+\.\d+)", lines[-1])
    assert floor and float(floor.group(1)) > 0
