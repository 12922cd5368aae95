"""The optimizer and the schedule: one-cycle's shape, Nesterov SGD's parameter groups."""

from __future__ import annotations

import pytest
import torch

from lab.config import ModelConfig, TrainConfig
from lab.models import build_model
from lab.optim import BN_LR_SCALE, SGD_MOMENTUM, make_optimizer, make_scheduler


def test_onecycle_warms_up_then_decays_to_zero():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    scheduler = make_scheduler(optimizer, TrainConfig(epochs=2, schedule="onecycle"), 4)
    rates = []
    for _ in range(8):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:2] == [0.5, 1.0]  # linear warm-up over 25% of the 8 steps
    assert rates[2:] == pytest.approx([6 / 6, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])


def test_sgd_is_nesterov_with_batchnorm_shifts_at_a_higher_rate():
    model = build_model(ModelConfig("alexnet_whitened", width=0.25))
    config = TrainConfig(optimizer="sgd", lr=0.5, weight_decay=1e-3)
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.SGD)
    weights, shifts = optimizer.param_groups
    assert weights["nesterov"] and weights["momentum"] == SGD_MOMENTUM
    assert weights["lr"] == 0.5 and shifts["lr"] == 0.5 * BN_LR_SCALE
    # Each step shrinks the shifts as much as the other weights: lr * weight_decay is equal.
    assert shifts["lr"] * shifts["weight_decay"] == pytest.approx(0.5 * 1e-3)
    handed = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(model.features[0].weight) not in handed  # the frozen stem
