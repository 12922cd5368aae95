"""Atomic writes: the destination is always the old file or the new one, never a torn one."""

from __future__ import annotations

import pytest
import torch

from lab.checkpoint import read_checkpoint
from lab.io import atomic_save, atomic_write_text


def test_atomic_save_replaces_without_leaving_temp_files(tmp_path):
    target = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(2)}, target)
    atomic_save({"a": torch.zeros(2)}, target)
    assert torch.equal(read_checkpoint(target)["a"], torch.zeros(2))
    atomic_write_text("hello", tmp_path / "t.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt", "x.pt"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(2)}, target)
    with pytest.raises((TypeError, AttributeError)):
        atomic_save({"a": lambda: None}, target)  # unpicklable: fails mid-write
    assert torch.equal(read_checkpoint(target)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
