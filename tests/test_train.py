"""The settings that shape training: each refused with the valid choices named."""

from __future__ import annotations

import pytest

from lab.config import TrainConfig
from lab.errors import ConfigError
from tests.conftest import tiny_config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"patience": -1}, "patience"),
        ({"monitor": "accuracy"}, "val_acc"),
        ({"schedule": "cosine"}, "onecycle"),
        ({"optimizer": "lamb"}, "adam, sgd"),
        ({"pipeline": "gpu"}, "reference"),
        ({"label_smoothing": 0.9}, "label_smoothing"),
    ],
)
def test_train_config_rejects_bad_values_naming_valid_ones(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_progressive_resizing_below_what_the_network_takes_is_refused(tiny_folder):
    with pytest.raises(ConfigError, match="choose 0 \\(off\\) or 9 to 32 px") as error:
        tiny_config(tiny_folder).with_settings({"model": "alexnet_whitened", "progressive_from": 8})
    assert error.value.setting == "progressive_from"


def test_progressive_resizing_is_for_the_32px_networks_only(tiny_folder):
    config = tiny_config(tiny_folder).with_settings({"progressive_from": 16})
    with pytest.raises(ConfigError, match="progressive_from applies only to"):
        config.with_settings({"model": "alexnet", "progressive_from": 16})
    # Choosing the notebook's network turns it off, as it does the width.
    assert config.with_settings({"model": "alexnet"}).train.progressive_from == 0
