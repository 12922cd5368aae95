"""The learning-rate range test ("LR finder", Smith 2017; popularised by fastai).

Train a fresh model for a few hundred batches while the learning rate grows exponentially from
tiny to huge, recording the loss after every step. The loss stays flat while the rate is too
small to matter, falls where the rate is useful, and explodes where it is too large. A good
rate sits where the smoothed loss falls fastest, well before its minimum.

The steps run through the training engine itself (``lab.train.train_one_epoch`` with a
``LambdaLR`` schedule), so the model, optimiser, precision and batches are those of a real run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from lab.batches import epoch_generator, fast_batches
from lab.config import RunConfig
from lab.data import Splits
from lab.device import pick_device, resolve_precision
from lab.errors import ConfigError
from lab.models import build_model
from lab.optim import make_optimizer
from lab.train import TrainControl, train_one_epoch

# Weight of the past in the exponential moving average of the loss: about 10 steps of memory,
# enough to calm batch-to-batch noise without lagging far behind the rate.
SMOOTHING = 0.9
# The test stops once the smoothed loss exceeds this multiple of its minimum (fastai's rule).
DIVERGE_FACTOR = 4.0
# The loss axis of the plot stops at this multiple of the minimum smoothed loss.
PLOT_CAP = 3.0
# The first steps of the moving average are mostly its start-up; they never pick the suggestion.
SKIP_START = 0.1

OnStep = Callable[[int, int, float, float], None]


@dataclass(frozen=True)
class LrFinderResult:
    """One range test: the rate and the loss after each completed step."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray  # bias-corrected exponential moving average of ``losses``
    # Where the smoothed loss falls fastest (per decade of rate) before its minimum; if it never
    # falls, a tenth of the rate at the minimum; None with too few steps to tell.
    suggested_lr: float | None
    min_loss_lr: float | None  # rate at the smoothed loss's minimum (already too large to use)
    stopped_early: bool
    reason: str

    def frame(self) -> pd.DataFrame:
        """Columns ``lr``, ``loss``, ``smoothed``: one row per step, for a log-x chart."""
        return pd.DataFrame({"lr": self.lrs, "loss": self.losses, "smoothed": self.smoothed})

    def informative_view(self, cap: float = PLOT_CAP) -> tuple[pd.DataFrame, tuple[float, float]]:
        """The steps worth plotting and the loss axis to plot them on.

        As fastai does, the steps after divergence are dropped (the smoothed loss past
        ``DIVERGE_FACTOR`` times its minimum, after that minimum), and the axis stops at
        ``cap`` times the minimum smoothed loss, so a final explosion to hundreds cannot flatten
        the useful part of the curve into a line at zero.
        """
        frame = self.frame()
        if frame.empty:
            return frame, (0.0, 1.0)
        lowest = int(np.argmin(self.smoothed))
        past = np.flatnonzero(self.smoothed[lowest:] > DIVERGE_FACTOR * self.smoothed[lowest])
        if len(past):
            frame = frame.iloc[: lowest + int(past[0])]
        floor = float(self.smoothed[lowest])
        top = min(float(frame[["loss", "smoothed"]].max().max()), cap * floor)
        return frame, (0.0, max(top, floor * 1.05))


def smooth(losses: np.ndarray, beta: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average with bias correction, so early values are not pulled to 0."""
    out = np.empty(len(losses))
    average = 0.0
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out[i] = average / (1 - beta ** (i + 1))
    return out


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float | None, float | None]:
    """(suggested rate, rate at the minimum) from a range test's smoothed curve."""
    if len(lrs) < 5:
        return None, None
    lowest = int(np.argmin(smoothed))
    start = int(len(lrs) * SKIP_START)
    if lowest - start < 3:
        # The loss never fell over a useful stretch: a tenth of the rate at the minimum is the
        # usual fallback.
        return float(lrs[lowest] / 10), float(lrs[lowest])
    slope = np.gradient(smoothed[start : lowest + 1], np.log10(lrs[start : lowest + 1]))
    return float(lrs[start + int(np.argmin(slope))]), float(lrs[lowest])


def lr_range_test(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    steps: int = 200,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    precision: str = "fp32",
    label_smoothing: float = 0.0,
    diverge_factor: float = DIVERGE_FACTOR,
    on_step: OnStep | None = None,
) -> LrFinderResult:
    """Run the range test on ``model`` (modified in place) over at most ``steps`` batches.

    The rate of step ``i`` is ``start_lr * (end_lr / start_lr) ** (i / (steps - 1))``. The test
    stops early when the smoothed loss exceeds ``diverge_factor`` times its minimum or the loss
    stops being finite. ``on_step(step, steps, lr, loss)`` reports progress.
    """
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, got {steps}")
    if not 0 < start_lr < end_lr:
        raise ConfigError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    growth = (end_lr / start_lr) ** (1 / (steps - 1))
    for group in optimizer.param_groups:
        group["lr"] = start_lr
        group.pop("initial_lr", None)  # LambdaLR scales from the rate it finds at creation
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: growth**step)
    control = TrainControl()
    lrs: list[float] = []
    losses: list[float] = []
    state = {"best": math.inf, "exploded": False}

    def on_batch(step: int, loss: float, _images_per_s: float) -> None:
        lrs.append(start_lr * growth**step)
        losses.append(loss)
        smoothed = smooth(np.asarray(losses))[-1]
        state["best"] = min(state["best"], smoothed)
        if smoothed > diverge_factor * state["best"]:
            state["exploded"] = True
            control.request_stop()  # honoured by train_one_epoch before the next step
        if on_step is not None:
            on_step(step + 1, steps, lrs[-1], loss)

    stats = train_one_epoch(
        model,
        itertools.islice(batches, steps),
        optimizer,
        device=device,
        precision=precision,
        scheduler=scheduler,
        label_smoothing=label_smoothing,
        control=control,
        on_batch=on_batch,
    )
    if stats.diverged:
        reason = f"stopped at step {len(losses) + 1}: the loss became {stats.loss}"
    elif state["exploded"]:
        reason = f"stopped at step {len(losses)}: the loss exploded (over {diverge_factor:g}x "
        reason += "its minimum)"
    else:
        reason = f"completed {len(losses)} steps"
    lr_array, loss_array = np.asarray(lrs), np.asarray(losses)
    smoothed = smooth(loss_array)
    suggested, at_min = suggest(lr_array, smoothed)
    return LrFinderResult(
        lrs=lr_array,
        losses=loss_array,
        smoothed=smoothed,
        suggested_lr=suggested,
        min_loss_lr=at_min,
        stopped_early=stats.diverged or state["exploded"],
        reason=reason,
    )


def find_lr(
    config: RunConfig,
    splits: Splits,
    *,
    steps: int = 200,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    device: torch.device | None = None,
    on_step: OnStep | None = None,
) -> LrFinderResult:
    """The range test for a run config: a fresh model, its optimiser (Adam with the config's
    weight decay), precision, label smoothing and augmented training batches, cycling over
    the training split as often as ``steps`` needs. Nothing on disk is touched."""
    device = device or pick_device()
    tc = config.train
    batch_size = min(tc.batch_size, len(splits.train))
    # Seeded like fit, inside a forked random state so the caller's streams stay untouched.
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(tc.seed)
        model = build_model(config.model, num_classes=len(splits.classes))
        model = model.to(device, memory_format=torch.channels_last)
        optimizer = make_optimizer(model, replace(tc, lr=start_lr), device)

        def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for epoch in itertools.count(1):
                yield from fast_batches(
                    splits.train,
                    config.augment,
                    splits.mean,
                    splits.std,
                    batch_size,
                    device,
                    epoch_generator(tc.seed, epoch),
                )

        return lr_range_test(
            model,
            batches(),
            optimizer,
            device=device,
            steps=steps,
            start_lr=start_lr,
            end_lr=end_lr,
            precision=resolve_precision(tc.precision, device),
            label_smoothing=tc.label_smoothing,
            on_step=on_step,
        )
