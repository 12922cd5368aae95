"""benchmarks/gpu_suite.py --smoke: the GPU suite's whole path on the CPU, so it cannot rot
before a GPU is lent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_smoke_run_prints_the_table_and_saves_every_figure(tiny_folder, tmp_path):
    out = tmp_path / "suite.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--smoke"]
    command += ["--data", str(tiny_folder), "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["smoke"] is True and results["device"] == "cpu"
    assert all(results["throughput"][side] > 0 for side in ("notebook", "lab", "model"))
    notebook = results["notebook"]
    # Two smoke epochs, patience 5: the run ends by completing them, its best is one of them.
    assert notebook["stop_epoch"] == 2 and notebook["best_epoch"] in (1, 2)
    assert 0.0 <= notebook["best_test_acc"] <= 1.0
    fast = results["fast"]
    assert fast["preset"] == "cpu-5min" and 0.0 <= fast["final_test_acc"] <= 1.0
    for line in ("notebook preset: stopped at epoch", "cpu-5min: minutes to 83%", "whole suite"):
        assert line in done.stdout
