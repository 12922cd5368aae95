"""What the lenses that look at many images share: the network's conv stages, a bounded sample
of test images, one pass of a checkpoint over it, and a cache of the result in the run folder.

The channel ranking of ``inside`` and the feature map of ``embedding`` each read a layer's
output for a few thousand test images. That pass runs once per checkpoint: its result is saved
beside the checkpoint (``<run>/lenses/<checkpoint>.<kind>.pt``, written atomically) under a key
naming the checkpoint file's identity (path, size, modification time, inode: a new ``best.pt``
is a new file, since checkpoints are renamed into place), the images and the sample, so a
changed checkpoint or data set is never answered from a stale cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lab.checkpoint import LoadedModel, read_checkpoint
from lab.data import Dataset, Progress
from lab.errors import CheckpointError, ConfigError
from lab.evaluate import network_inputs
from lab.io import atomic_save
from lab.runs import LENSES

# Test images a sampled analysis looks at by default: enough for every class to show its
# variety, few enough for a CPU to pass them through the network in seconds.
DEFAULT_SAMPLE = 2000
# The same images every time, so a cached result and a fresh one describe the same sample.
SAMPLE_SEED = 0
# Bump when the layout of a cache file changes, so old caches are recomputed, not misread.
CACHE_FORMAT = 1

# What a hook keeps of a layer's call: (inputs, output) -> a (N, ...) tensor per image.
Reduce = Callable[[tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ConvStage:
    """One convolution of a network and the module whose output the lenses read."""

    title: str  # "conv1", "conv2", ... in the order the image meets them
    conv: str  # the Conv2d's module name ("features.0")
    output: str  # the ReLU after it (past its BatchNorm), or the Conv2d when none follows


def conv_stages(model: nn.Module) -> list[ConvStage]:
    """Every ``Conv2d`` of ``model`` in order, each read where the rest of the network reads
    it: the rectified output (the ReLU that follows, BatchNorm in between skipped)."""
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children())]
    stages = []
    for i, (name, module) in enumerate(leaves):
        if not isinstance(module, nn.Conv2d):
            continue
        output = name
        for later, follower in leaves[i + 1 :]:
            if isinstance(follower, nn.ReLU):
                output = later
            if not isinstance(follower, nn.BatchNorm2d):
                break
        stages.append(ConvStage(f"conv{len(stages) + 1}", name, output))
    if not stages:
        raise ConfigError(f"{type(model).__name__} has no convolutional layer to look into")
    return stages


def sample_indices(total: int, limit: int = DEFAULT_SAMPLE) -> np.ndarray:
    """Positions of at most ``limit`` of ``total`` images, drawn at random with a fixed seed and
    sorted: a folder lists its images class by class, so its first 2,000 would be two
    classes."""
    if limit < 1:
        raise ConfigError(f"the sample needs at least 1 image, got {limit}")
    if limit >= total:
        return np.arange(total)
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(total, size=limit, replace=False))


@contextlib.contextmanager
def recording(
    model: nn.Module, reducers: Mapping[str, Reduce]
) -> Iterator[dict[str, list[torch.Tensor]]]:
    """While inside, every call of a module named in ``reducers`` appends what its reducer
    makes of it (as float32 on the CPU) to the yielded lists; the model runs in eval mode
    without gradients, and is left as found."""
    modules = dict(model.named_modules())
    missing = sorted(set(reducers) - set(modules))
    if missing:
        raise ConfigError(f"model has no layer named {', '.join(missing)}")
    kept: dict[str, list[torch.Tensor]] = {name: [] for name in reducers}
    handles = [
        modules[name].register_forward_hook(
            lambda _m, inputs, output, name=name: kept[name].append(
                reducers[name](inputs, output).float().cpu()
            )
        )
        for name in reducers
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield kept
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


def run_over(
    loaded: LoadedModel,
    images: torch.Tensor,
    reducers: Mapping[str, Reduce],
    *,
    batch_size: int = 250,
    progress: Progress | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Pass uint8 ``images`` (N, 3, H, W) through the checkpoint's network in float32 (its test
    transform) and keep, for every module named in ``reducers``, what its reducer makes of
    each image; returns those arrays and the logits (N, classes). ``progress(done, total)``
    follows the images."""
    device = next(loaded.model.parameters()).device
    logits = []
    with recording(loaded.model, reducers) as kept:
        for start in range(0, len(images), batch_size):
            raw = images[start : start + batch_size].to(device)
            logits.append(loaded.model(network_inputs(loaded, raw)).float().cpu())
            if progress is not None:
                progress(min(start + batch_size, len(images)), len(images))
    arrays = {name: torch.cat(parts).numpy() for name, parts in kept.items()}
    return arrays, torch.cat(logits).numpy()


class SampleCache:
    """The cache file of one kind of result (``kind``) for one checkpoint and one sample of
    test images: ``<folder>/lenses/best.<kind>.pt`` for ``<folder>/best.pt``. A disabled cache
    reads nothing and writes nothing."""

    def __init__(
        self,
        loaded: LoadedModel,
        dataset: Dataset,
        kind: str,
        indices: np.ndarray,
        enabled: bool = True,
    ) -> None:
        self.path = loaded.path.parent / LENSES / f"{loaded.path.stem}.{kind}.pt"
        self.key = _key(loaded, dataset, indices) if enabled else None

    def read(self) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None when there are none, the file is damaged, or they were
        computed for another checkpoint or sample."""
        if self.key is None or not self.path.is_file():
            return None
        try:
            payload = read_checkpoint(self.path)
        except CheckpointError:
            return None
        if payload.get("key") != self.key or not isinstance(payload.get("arrays"), dict):
            return None
        return {name: tensor.numpy() for name, tensor in payload["arrays"].items()}

    def write(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Save ``arrays``, atomically. A folder that cannot be written (a checkpoint on a
        read-only disk) only costs the next call its recomputation, so that is no error."""
        if self.key is None:
            return
        tensors = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}
        try:
            self.path.parent.mkdir(exist_ok=True)
            atomic_save({"key": self.key, "arrays": tensors}, self.path)
        except OSError:
            return


def _key(loaded: LoadedModel, dataset: Dataset, indices: np.ndarray) -> dict:
    """What a cached result depends on: the checkpoint file and the sampled test images."""
    stat = loaded.path.stat()
    return {
        "format": CACHE_FORMAT,
        "checkpoint": str(loaded.path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
        "source": dataset.source,
        "test_images": len(dataset.test),
        "sample": indices.tolist(),
        # Cheap, and enough to tell apart another folder of pictures under the same name.
        "pixel_sum": int(dataset.test.images[torch.as_tensor(indices)].sum()),
    }
