"""The learning-rate range test ("LR finder", Smith 2017; popularised by fastai).

Train a fresh model for a few hundred batches while the learning rate grows exponentially from
tiny to huge, recording the loss after every step. The loss stays flat while the rate is too
small to matter, falls where the rate is useful, and explodes where it is too large. A good
rate sits where the smoothed loss falls fastest, well before its minimum. A test whose loss
does not fall by more than its noise, or falls fastest only at the end of the range, suggests
nothing (``suggest``): its steepest point is noise, or lies beyond the rates tried.

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
# Fewer steps than this tell nothing.
MIN_STEPS = 5
# The smoothed loss "falls" when it drops by at least this share of where it started, and by
# at least NOISE_FACTOR times the step-to-step noise of the raw loss: a flat but noisy loss
# always has a lowest point, and a steepest step, that mean nothing.
MIN_FALL = 0.05
NOISE_FACTOR = 2.0
# A steepest fall in the last EDGE share of the steps (at least 2) is at the range's edge: the
# loss may fall faster still at rates the test did not try.
EDGE = 0.05
# Scale of a normal distribution's median absolute deviation: MAD x 1.4826 estimates its std.
MAD_TO_STD = 1.4826

OnStep = Callable[[int, int, float, float], None]


def format_rate(lr: float) -> str:
    """A learning rate as people write it: 1.6e-3, and 2.0 rather than 2.0e0."""
    mantissa, exponent = f"{lr:.1e}".split("e")
    return mantissa if int(exponent) == 0 else f"{mantissa}e{int(exponent)}"


@dataclass(frozen=True)
class Suggestion:
    """What a range test's curve says about the learning rate."""

    # "falls": a rate is suggested; "flat": the loss did not fall by more than its noise;
    # "edge": it fell fastest at the end of the range; "few steps": too few to tell.
    verdict: str
    lr: float | None  # where the smoothed loss falls fastest per decade of rate; else None
    min_loss_lr: float | None  # rate at the smoothed loss's minimum (already too large to use)
    words: str  # the verdict in a sentence, with the numbers it rests on


@dataclass(frozen=True)
class LrFinderResult:
    """One range test: the rate and the loss after each completed step."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray  # bias-corrected exponential moving average of ``losses``
    suggestion: Suggestion
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


def noise(losses: np.ndarray) -> float:
    """The raw loss's step-to-step noise (a standard deviation), from the median absolute
    deviation of its steps: a trend or a few outliers barely move it."""
    if len(losses) < 3:
        return 0.0
    steps = np.diff(losses)
    return float(MAD_TO_STD * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2))


def suggest(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """The rate a range test suggests: where the smoothed loss falls fastest before its minimum,
    provided it falls at all (by ``MIN_FALL`` of its level and ``NOISE_FACTOR`` times its noise)
    and not only at the range's last steps (``EDGE``)."""
    count = len(lrs)
    if count < MIN_STEPS:
        return Suggestion(
            "few steps", None, None, f"{count} steps are too few to tell: no rate to suggest."
        )
    smoothed = smooth(np.asarray(losses, dtype=float))
    start = int(count * SKIP_START)
    lowest = start + int(np.argmin(smoothed[start:]))
    level, floor = float(smoothed[start]), float(smoothed[lowest])
    scatter = noise(np.asarray(losses[: lowest + 1], dtype=float))
    needed = max(MIN_FALL * level, NOISE_FACTOR * scatter)
    at_min = float(lrs[lowest])
    if level - floor < needed or lowest - start < 3:
        return Suggestion(
            "flat",
            None,
            at_min,
            f"The loss did not fall: its smoothed value went from {level:.2f} to {floor:.2f} "
            f"at best, less than the {needed:.2f} a real fall needs (its step-to-step noise is "
            f"{scatter:.2f}). In {count} steps no rate of the range trained the network "
            "measurably, so there is no rate to suggest: keep the rate you have, or test again "
            "with larger batches, whose loss is steadier.",
        )
    slope = np.gradient(smoothed[start : lowest + 1], np.log10(lrs[start : lowest + 1]))
    steepest = start + int(np.argmin(slope))
    if steepest >= count - max(2, math.ceil(EDGE * count)):
        return Suggestion(
            "edge",
            None,
            at_min,
            f"The loss fell fastest at the end of the range ({format_rate(float(lrs[steepest]))}, "
            f"of rates up to {format_rate(float(lrs[-1]))}), so a better rate may lie beyond "
            "the rates tried: no rate to suggest.",
        )
    lr = float(lrs[steepest])
    return Suggestion(
        "falls",
        lr,
        at_min,
        f"The smoothed loss falls fastest at {format_rate(lr)} (from {level:.2f} to its lowest, "
        f"{floor:.2f}, at {format_rate(at_min)}).",
    )


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
    return LrFinderResult(
        lrs=lr_array,
        losses=loss_array,
        smoothed=smooth(loss_array),
        suggestion=suggest(lr_array, loss_array),
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
