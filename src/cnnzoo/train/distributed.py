"""Data-parallel training under torchrun: `torchrun --nproc_per_node=N -m cnnzoo train ...`.

Every process holds the whole (in-memory) data set and draws the same permutation from the same
seeded generator; each global batch of B images is cut into N contiguous slices of B/N, and
process r takes slice r. With DDP averaging the gradients of per-process mean losses, one step is
the step a single process takes on the whole batch (up to float rounding), so a run's result does
not depend on the number of processes. BatchNorm statistics are per process (no SyncBatchNorm),
so for BatchNorm models that equivalence is only approximate.

Backends: gloo on CPU, NCCL on GPU. Rank 0 writes every file and prints; the others stay quiet.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..devices import pick_device


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over processes, in place (a no-op in a single process)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def gather(self, obj: Any) -> list[Any]:
        """One object from every process (our own processes: the pickling stays in-house)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's object, on every process."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def setup(device: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes (if any) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    info = DistInfo(rank, world, local_rank)
    dev = pick_device(device, local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return info, dev


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def local_slice(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This process's contiguous share of a global batch's indices (sizes differ by at most 1)."""
    if not info.enabled:
        return indices
    return indices.tensor_split(info.world)[info.rank]
