"""The device helpers: the precision "auto" picks on each kind of host, and the CPU allocator
setting that keeps freed tensor memory for reuse."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from lab import device
from lab.device import keep_freed_memory
from lab.errors import ConfigError

pytestmark = pytest.mark.precision

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


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_tensor_memory_is_reused_without_page_faults():
    pages = 5 * (64 << 20) // 4096
    # By default glibc unmaps a freed 64 MB block, so each new one faults all its pages in.
    assert reuse_faults("default") >= pages // 2
    assert reuse_faults("keep") < pages // 20


def test_keeping_freed_memory_is_idempotent():
    assert keep_freed_memory() == keep_freed_memory()


@pytest.mark.parametrize(
    ("native_bf16", "asked", "expected"),
    [
        (True, "auto", "bf16"),
        (False, "auto", "fp32"),
        (True, "fp32", "fp32"),
        (False, "bf16", "bf16"),  # bf16 autocast runs on any x86 CPU, emulated
        (True, "bf16", "bf16"),
        (False, "fp32", "fp32"),
    ],
)
def test_auto_precision_follows_the_host_kind_and_a_pinned_one_does_not(
    monkeypatch, native_bf16, asked, expected
):
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: native_bf16)
    assert device.resolve_precision(asked, torch.device("cpu")) == expected


@pytest.mark.parametrize(("native_bf16", "said"), [(True, "yes"), (False, "no")])
def test_the_cpu_description_names_the_host_kind(monkeypatch, native_bf16, said):
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: native_bf16)
    assert device.describe_device(torch.device("cpu")).endswith(f"native bf16: {said})")


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(ConfigError, match="auto, fp32, bf16"):
        device.resolve_precision("fp16", torch.device("cpu"))


def test_the_suite_runs_as_the_host_kind_it_is_told(host_kind):
    """Run with CIFAR_LAB_TEST_HOST=bf16 and =fp32 (.ci/run does both): "auto" then resolves
    as on that kind of host, whatever this one is."""
    if host_kind is None:
        pytest.skip("CIFAR_LAB_TEST_HOST is not set: the host is what it is")
    assert device.resolve_precision("auto", torch.device("cpu")) == host_kind
