"""Device and precision choice: CUDA when present, else the CPU; bf16 where the hardware has it."""

from __future__ import annotations

import contextlib
import ctypes

import torch

from lab.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given ("cpu", "cuda", "cuda:1"), else CUDA if available, else the CPU. A
    device the lab cannot train on (a typo, "meta", "mps", a missing GPU) is a ``ConfigError``."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as error:
        raise ConfigError(f"unknown device '{name}': use cpu, cuda or cuda:N") from error
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device '{name}' is not one the lab trains on: use cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for, but no CUDA GPU is available: use 'cpu'")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(
            f"device '{name}': this machine has {count} CUDA GPUs, cuda:0 to cuda:{count - 1}; "
            "or use 'cpu'"
        )
    return device


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN runs bf16 natively (AVX512-BF16 or AMX), where it beats fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn "auto" into "bf16" or "fp32" for this device."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for "bf16", a no-op otherwise."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# glibc's mallopt parameters (malloc.h) and the values the lab sets for training on a CPU.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap, so a batch's activations (90 MB for cpu-5min's
# first stage) are not mapped afresh each step.
KEEP_BLOCKS_UP_TO = 1 << 30
# Free memory at the top of the heap kept for the next step rather than handed back.
KEEP_FREE_UP_TO = 1 << 31


def keep_freed_memory() -> bool:
    """Make glibc keep the memory of freed large tensors for reuse instead of returning it to
    the kernel at once. By default every block over 32 MB is mapped on allocation and unmapped
    on free, and the top of the heap is trimmed, so each training step on a CPU page-faults its
    activations in afresh: a sixth of the step's CPU time went to the kernel, and training ran
    1.2-1.3x slower (cpu-1min and cpu-5min on 2 cores). Covers allocations of the main thread's
    heap (the CLI's and the benchmarks' runs); glibc's per-thread heaps (a run in the app's
    job threads) still give back memory their own way. Process-wide and idempotent; True when
    set, False where the C library is not glibc (macOS, musl), which is left as it is."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    kept_blocks = mallopt(_M_MMAP_THRESHOLD, KEEP_BLOCKS_UP_TO)
    return bool(kept_blocks and mallopt(_M_TRIM_THRESHOLD, KEEP_FREE_UP_TO))


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. "CPU (2 threads, native bf16: yes)" or "CUDA: NVIDIA
    H100". Whether the CPU runs bf16 natively is always said: it decides what "auto" precision
    picks, and so every timing's meaning."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    native = "yes" if cpu_has_fast_bf16() else "no"
    return f"CPU ({torch.get_num_threads()} threads, native bf16: {native})"
