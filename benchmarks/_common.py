"""Shared bits of the benchmark scripts: the machine description and peak memory."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import torch

# Make `lab` importable when a script is run as `python benchmarks/x.py` from the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.device import describe_device, pick_device  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = pick_device()
    return (
        f"{cpu}, {os.cpu_count()} cores; torch {torch.__version__}; "
        f"training device: {describe_device(device)}"
    )


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def data_source() -> str:
    source = os.environ.get("CIFAR_LAB_DATA", "")
    if not source:
        sys.exit("set CIFAR_LAB_DATA to the CIFAR-10 image folder (or 'cifar10')")
    return source
