"""Atomic writes, safe loading, and models rebuilt from a checkpoint's own config."""

from __future__ import annotations

import pytest
import torch

from lab.checkpoint import (
    FORMAT_VERSION,
    check_classes,
    load_model,
    read_checkpoint,
)
from lab.config import ModelConfig
from lab.data import CIFAR10_CLASSES, CIFAR10_MEAN
from lab.errors import CheckpointError, LabError
from lab.models import build_model


def test_model_is_rebuilt_from_the_checkpoint_config(tiny_run):
    loaded = load_model(tiny_run / "best.pt")
    assert loaded.classes == ("circle", "square", "stripes")
    assert loaded.config.model.name == "alexnet_cifar" and loaded.config.model.width == 0.25
    assert loaded.input_size == 32 and not loaded.model.training
    state = read_checkpoint(tiny_run / "best.pt")["model"]
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, state[key])


def test_data_with_the_checkpoints_classes_passes_the_class_check(tiny_run):
    check_classes(load_model(tiny_run / "best.pt"), ["circle", "square", "stripes"])


@pytest.mark.parametrize(
    "classes",
    [
        ("square", "circle", "stripes"),  # the same names in another order
        ("circle", "square"),
        ("circle", "square", "stripes", "disc"),
        CIFAR10_CLASSES,
    ],
)
def test_data_with_other_classes_is_refused_naming_both(tiny_run, classes):
    loaded = load_model(tiny_run / "best.pt")
    with pytest.raises(LabError) as refused:
        check_classes(loaded, classes)
    assert str(refused.value) == (
        f"the data's classes {list(classes)} differ from the checkpoint's "
        f"['circle', 'square', 'stripes'] ({tiny_run / 'best.pt'}): use the data it was "
        "trained on"
    )


def test_notebook_state_dict_loads_strictly_as_alexnet(tmp_path):
    torch.manual_seed(0)
    notebook = build_model(ModelConfig("alexnet"))
    path = tmp_path / "alex_net.pth"
    torch.save(notebook.state_dict(), path)
    loaded = load_model(path)
    assert loaded.config.model.name == "alexnet" and loaded.input_size == 227
    assert loaded.classes == CIFAR10_CLASSES and loaded.mean == CIFAR10_MEAN
    x = torch.randn(1, 3, 227, 227)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), notebook.eval()(x), atol=1e-5)
    custom = load_model(path, stats=((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)))
    assert custom.mean == (0.1, 0.2, 0.3)


def test_wrong_architecture_names_the_mismatch(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(build_model(ModelConfig("alexnet_cifar")).state_dict(), path)
    with pytest.raises(CheckpointError, match="does not match the model architecture"):
        load_model(path)


def test_newer_format_version_is_refused(tiny_run, tmp_path):
    payload = read_checkpoint(tiny_run / "last.pt")
    payload["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="newer than this lab"):
        load_model(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"PK\x03\x04garbage", "truncated or not a PyTorch file"),
        (b"some text\n", "truncated or not a PyTorch file"),
        (bytes(64), "truncated or not a PyTorch file"),  # not a refusal to run code
    ],
)
def test_unreadable_files_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as refused:
        read_checkpoint(path)
    assert "Error" not in str(refused.value)  # one plain sentence, not torch's exception


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.pt")
