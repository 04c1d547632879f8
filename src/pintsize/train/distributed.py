"""The process group: one process per device, started by `torchrun` (or a single plain process).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is one process and no
process group is created. NCCL carries GPU tensors, gloo CPU tensors: on GPUs the group has both,
so the host's small questions (`all_true`: has every rank another batch?) never wait behind the
GPU's queue of work. A process makes its group once and keeps it
until it exits, however many training stages it runs (`pintsize run`): destroying a group and
making another in the same torchrun process can hang in the second rendezvous.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pintsize.errors import PintsizeError


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce(self, tensor: torch.Tensor, op=dist.ReduceOp.SUM) -> torch.Tensor:
        """In place; a no-op for one process."""
        if self.distributed:
            dist.all_reduce(tensor, op=op)
        return tensor

    def all_true(self, flag: bool) -> bool:
        """Whether every rank says True (one small collective), so ranks stop together."""
        if not self.distributed:
            return flag
        t = torch.tensor([int(flag)])  # on the CPU: gloo answers without waiting for the GPU
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())


BACKENDS = {"cuda": "cpu:gloo,cuda:nccl", "cpu": "gloo"}
_group_backend: str | None = None  # the backend this process made its group with


def init_distributed(device: str | None = None) -> DistEnv:
    """Join the torchrun process group if there is one, and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(device)
    global _group_backend
    backend = BACKENDS.get(dev.type, "gloo")
    if world_size > 1:
        if not dist.is_initialized():
            dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
            _group_backend = backend
            atexit.register(shutdown_distributed)
        elif (have := _group_backend or dist.get_backend()) != backend:
            raise PintsizeError(
                f"this process already has a {have} process group; a stage on {dev.type} needs {backend} "
                "(run every stage of one process on the same kind of device)"
            )
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown_distributed() -> None:
    """At process exit (registered by `init_distributed`), not between stages."""
    if dist.is_initialized():
        dist.destroy_process_group()
