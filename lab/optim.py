"""The optimizer and the learning-rate schedule of a run, built from its ``TrainConfig``.

Adam is the notebook's optimizer; Nesterov SGD with BatchNorm shifts at a higher rate is
airbench's, for short, high-rate schedules. The "onecycle" schedule warms up linearly and then
decays linearly to zero at the last step, so a few epochs end at their best.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.config import TrainConfig

# Nesterov momentum of the "sgd" optimizer, airbench's value for short, high-rate schedules.
SGD_MOMENTUM = 0.85
# Under "sgd", BatchNorm shifts learn this many times faster than the other weights (airbench's
# bias scaler: with BatchNorm scales frozen, the shifts are what moves the activations), with
# their weight decay divided alike, so each step still shrinks them as much as the rest.
BN_LR_SCALE = 64.0


def make_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """Adam (the notebook's) or Nesterov SGD over the trainable weights; fused on CUDA,
    foreach (multi-tensor) elsewhere."""
    fused = device.type == "cuda"
    kernels = {"foreach": not fused, "fused": fused or None}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(
            trainable, lr=config.lr, weight_decay=config.weight_decay, **kernels
        )
    norm = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    }
    groups = [
        {"params": [p for p in trainable if id(p) not in norm]},
        {
            "params": [p for p in trainable if id(p) in norm],
            "lr": config.lr * BN_LR_SCALE,
            "weight_decay": config.weight_decay / BN_LR_SCALE,
        },
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]],
        lr=config.lr,
        momentum=SGD_MOMENTUM,
        nesterov=True,
        weight_decay=config.weight_decay,
        **kernels,
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None for "constant"; for "onecycle" a linear warm-up over the first 25% of steps to the
    peak rate, then a linear decay to zero at the last step."""
    if config.schedule == "constant":
        return None
    total = config.epochs * steps_per_epoch
    warmup = max(1, round(0.25 * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
