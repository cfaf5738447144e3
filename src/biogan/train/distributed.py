"""Several processes, one model: DDP through the standard launcher (``torchrun``), never a home-made one.

``torchrun --nproc_per_node=N -m biogan train ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`init_from_env` then joins the process group (gloo on CPU, nccl on CUDA). The trainer reads the
group through :func:`context` and wraps generator and critic in
:class:`torch.nn.parallel.DistributedDataParallel`. Every rank evaluates (same weights, same seeded
randomness, so the same best step) and takes part in gathering a checkpoint's state; only rank 0 prints,
warns and writes files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes (1 = no DDP)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def context() -> DistContext:
    """The current process group, or a single process when none is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` (or another launcher with the same variables) started this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device) -> DistContext:
    """Join the process group described by torchrun's variables (a no-op for one process)."""
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return context()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    return context()


@contextlib.contextmanager
def session(device: torch.device) -> Iterator[DistContext]:
    """Join torchrun's process group for the block (if launched by torchrun) and leave it afterwards."""
    owned = launched_by_torchrun() and not (dist.is_available() and dist.is_initialized())
    ctx = init_from_env(device)
    try:
        yield ctx
        barrier(ctx)
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun each process takes the GPU of its local rank; CPU stays CPU."""
    if device.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def wrap(
    module: nn.Module, ctx: DistContext, device: torch.device, broadcast_buffers: bool = True
) -> nn.Module:
    """``module`` in DDP when several processes train, else ``module`` itself.

    ``broadcast_buffers=False`` for modules whose buffers never change while training (data statistics):
    DDP would otherwise copy them from rank 0 at every forward pass.
    """
    if not ctx.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    device_ids = [device.index or 0] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, broadcast_buffers=broadcast_buffers)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP and/or ``torch.compile`` wrapper, for ``torch.autograd.grad`` (which
    DDP does not support, nor compiled graphs with a double backward): the gradient penalty differentiates
    the unwrapped critic, and its parameter gradients still reach DDP's all-reduce because they accumulate
    in the same backward pass."""
    module = getattr(module, "_orig_mod", module)  # torch.compile's wrapper
    return module.module if isinstance(module, DistributedDataParallel) else module


def all_mean(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of ``values`` over ranks (unchanged for one process)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values)
        values /= ctx.world_size
    return values


def all_max(value: float, ctx: DistContext) -> float:
    """The largest ``value`` over ranks (so every rank takes the same decision)."""
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def broadcast(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any, ctx: DistContext) -> list[Any]:
    """``obj`` of every rank, in rank order (on every rank)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.enabled:
        dist.barrier()


__all__ = [
    "DistContext",
    "all_max",
    "all_mean",
    "barrier",
    "broadcast",
    "context",
    "gather",
    "init_from_env",
    "launched_by_torchrun",
    "rank_device",
    "session",
    "unwrap",
    "wrap",
]
