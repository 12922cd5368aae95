"""How close a preset's training step runs to this CPU's compute ceiling, and the least time its
schedule could take there.

On random data in the preset's batch size, fp32, it times: a matrix product (the ceiling: what
the BLAS reaches on these cores), each convolution's forward and backward on its own at 32 px,
and the whole training step at every image size the schedule uses. It prints each as GFLOP/s
and as a share of the step, then the schedule's training work (three times the forward's
FLOPs: the backward pass computes the weights' gradients and the inputs', each about a forward)
and the minutes it takes at the measured step rates and at the ceiling. The last line is
`floor_minutes: X`, the schedule's training at the ceiling, before any scoring.

    python benchmarks/compute_bound.py --preset cpu-5min [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from _common import machine
from torch import nn

from lab.batches import epoch_image_size
from lab.device import keep_freed_memory
from lab.models import build_model, summarize
from lab.optim import make_optimizer
from lab.presets import PRESET_NAMES, preset_config

# Images in CIFAR-10's training split, before the preset holds out its validation images.
CIFAR10_TRAIN = 50_000
FULL_SIZE = 32


def call_seconds(work, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` timed calls of ``work``, after one untimed call (which
    allocates and picks the kernels)."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def seconds_per_call(work, repeats: int) -> float:
    """The median call: this host's pace drifts, and the median ignores a stalled call."""
    return statistics.median(call_seconds(work, repeats))


def matmul_gflops(repeats: int, n: int = 2048) -> float:
    """The fastest of the calls: a ceiling is what the cores reach, not what they average."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / min(call_seconds(lambda: a @ b, max(repeats, 10))) / 1e9


def conv_inputs(model: nn.Module, batch: int) -> list[tuple[str, nn.Conv2d, torch.Size]]:
    """Each convolution of ``model`` with the shape of the input it gets at 32 px."""
    found, hooks = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(
                module.register_forward_hook(
                    lambda m, inputs, _out, name=name: found.append((name, m, inputs[0].shape))
                )
            )
    with torch.no_grad():
        model(torch.randn(batch, 3, FULL_SIZE, FULL_SIZE).to(memory_format=torch.channels_last))
    for handle in hooks:
        handle.remove()
    return found


def time_conv(conv: nn.Conv2d, shape: torch.Size, needs_input_grad: bool, repeats: int):
    """(forward s, backward s) of one convolution on its own."""
    conv = copy.deepcopy(conv)
    x = torch.randn(shape).to(memory_format=torch.channels_last).requires_grad_(needs_input_grad)
    grad = torch.randn_like(conv(x))
    forward_s = seconds_per_call(lambda: conv(x), repeats)
    both_s = seconds_per_call(lambda: conv(x).backward(grad), repeats)
    return forward_s, both_s - forward_s


def step_seconds(model: nn.Module, optimizer, batch: int, size: int, smoothing: float, repeats):
    x = torch.randn(batch, 3, size, size).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y, label_smoothing=smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return seconds_per_call(step, repeats)


def forward_flops(model: nn.Module, size: int) -> int:
    """FLOPs of one image's forward pass at ``size`` px."""
    return sum(row["flops"] for row in summarize(model, size))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-5min", choices=PRESET_NAMES)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each piece")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as fit does on a CPU
    torch.manual_seed(0)
    config = preset_config(args.preset, "cifar10")
    tc = config.train
    batch = tc.batch_size
    model = build_model(config.model).to(memory_format=torch.channels_last).train()
    optimizer = make_optimizer(model, tc, torch.device("cpu"))
    for group in optimizer.param_groups:  # the same arithmetic, but random data moves no weight
        group["lr"] = 0.0
    print(f"machine: {machine()}")

    ceiling = matmul_gflops(args.repeats)
    print(f"fp32 matrix product, 2048 x 2048: {ceiling:.0f} GFLOP/s at best (the ceiling below)")

    step_32 = step_seconds(model, optimizer, batch, FULL_SIZE, tc.label_smoothing, args.repeats)
    print(f"\n{args.preset}, batch {batch}, 32 px: one training step {step_32 * 1000:.0f} ms")
    print(f"{'convolution':<14}{'input':>18}{'forward':>16}{'backward':>16}{'of the step':>13}")
    flops = {row["layer"]: row["flops"] * batch for row in summarize(model, FULL_SIZE)}
    conv_s = 0.0
    for index, (name, conv, shape) in enumerate(conv_inputs(model, batch)):
        needs_input_grad = index > 0  # the first convolution sees the images
        fwd_s, bwd_s = time_conv(conv, shape, needs_input_grad, args.repeats)
        fwd = flops[name]
        # The backward pass costs a forward for the weights' gradient and one for the input's.
        bwd = fwd * (int(conv.weight.requires_grad) + int(needs_input_grad))
        conv_s += fwd_s + bwd_s
        backward = f"{bwd / bwd_s / 1e9:.0f} GFLOP/s" if bwd else "bias only"
        print(
            f"{name:<14}{'x'.join(map(str, shape[1:])):>18}{fwd / fwd_s / 1e9:>8.0f} GFLOP/s"
            f"{backward:>16}{(fwd_s + bwd_s) / step_32:>12.0%}"
        )
    print(f"convolutions alone: {conv_s / step_32:.0%} of the step")

    images = round(CIFAR10_TRAIN * (1 - config.data.val_fraction))
    sizes = [epoch_image_size(tc, epoch, FULL_SIZE) for epoch in range(1, tc.epochs + 1)]
    per_step = {
        size: step_seconds(model, optimizer, batch, size, tc.label_smoothing, args.repeats)
        for size in sorted(set(sizes))
    }
    measured = sum(per_step[size] * images / batch for size in sizes)
    work = sum(3 * forward_flops(model, size) * images for size in sizes)
    steps = ", ".join(f"{size} px {batch / s:.0f} img/s" for size, s in per_step.items())
    floor_minutes = work / (ceiling * 1e9) / 60
    print(f"\nschedule: {tc.epochs} epochs of {images:,} images at {'/'.join(map(str, sizes))} px")
    print(f"training steps: {steps}")
    print(f"training work: {work / 1e12:.1f} TFLOP (about 3x the forward FLOPs)")
    print(f"minutes at the measured step rates: {measured / 60:.2f}")
    print(f"floor_minutes: {floor_minutes:.2f}")
    return {"ceiling_gflops": ceiling, "measured_minutes": measured / 60, "floor": floor_minutes}


if __name__ == "__main__":
    main()
