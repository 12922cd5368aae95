"""Training on several processes with PyTorch's own engine: torchrun + DistributedDataParallel.

Launched by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
variables), ``lab.fit.fit`` joins the process group (NCCL on CUDA, Gloo on the CPU) and:

* every rank draws the same global batch (same seed, same permutation, same augmentation
  parameters) and trains on its own slice of it, so the global batch size and learning rate are
  those of the config whatever the number of processes (the notebook's 64 stays 64);
* validation and test metrics are sums reduced across ranks over the whole split;
* the early-stopping decision is taken on rank 0 and broadcast, so every rank stops together;
* only rank 0 writes checkpoints, history and logs; weights are saved without DDP's ``module.``
  prefix, so a distributed checkpoint loads in one process and resumes with any world size.

Without torchrun (``WORLD_SIZE`` unset or 1) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from lab.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: rank ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch (rank r takes every world_size-th sample)."""
        return batch[self.rank :: self.world_size] if self.enabled else batch


def setup(device: torch.device | None = None) -> tuple[DistContext, torch.device | None]:
    """Join the torchrun process group when launched by torchrun; returns the context and, on
    CUDA, this rank's device (``cuda:LOCAL_RANK``)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(), device
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank, world_size, local_rank), device


def wrap(model: nn.Module, context: DistContext, device: torch.device, sync_bn: bool) -> nn.Module:
    """DistributedDataParallel around ``model`` (optionally with SyncBatchNorm) when distributed."""
    if not context.enabled:
        return model
    if sync_bn and device.type != "cuda":
        raise ConfigError("sync_bn needs CUDA GPUs (PyTorch's SyncBatchNorm does not run on CPU)")
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def sum_across(values: list[float], context: DistContext, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (identity in one process)."""
    if not context.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast(value: object, context: DistContext) -> object:
    """Rank 0's ``value`` on every rank (identity in one process)."""
    if not context.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def sync_buffers(model: nn.Module, context: DistContext) -> None:
    """Copy rank 0's BatchNorm running statistics to every rank before evaluating: each rank
    updated its own from its slice in the last step, and rank 0's are the ones it saves."""
    if context.enabled:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()


def cleanup(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
