"""The device helpers: the CPU allocator setting that keeps freed tensor memory for reuse."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lab.device import keep_freed_memory

# Page faults of allocating and freeing a 64 MB tensor five times, in a fresh process (the
# setting is process-wide), printed as one number. Ten allocations first let the heap settle:
# with the setting, glibc grows it a few times before a freed block fits the next one.
REUSE_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import torch
    from lab.device import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    for _ in range(10):
        x = torch.ones(64 << 18); del x
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        x = torch.ones(64 << 18); del x
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def reuse_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", REUSE_FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_tensor_memory_is_reused_without_page_faults():
    pages = 5 * (64 << 20) // 4096
    # By default glibc unmaps a freed 64 MB block, so each new one faults all its pages in.
    assert reuse_faults("default") >= pages // 2
    assert reuse_faults("keep") < pages // 20


def test_keeping_freed_memory_is_idempotent():
    assert keep_freed_memory() == keep_freed_memory()
