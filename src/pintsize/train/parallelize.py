"""Precision, activation checkpointing, compilation and FSDP2, applied to the model from outside.

The order follows torchtitan: checkpoint each block, compile each block, then shard each block
and finally the root, so that FSDP's hooks stay outside the compiled regions and one compiled
block graph serves every layer.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch
from torch import nn

from pintsize.train.distributed import DistEnv

Precision = Literal["bf16", "fp32"]


def resolve_precision(setting: str, device: torch.device) -> Precision:
    """`auto` is bf16 on a GPU and fp32 on a CPU (bf16 matmuls are slow on most CPUs)."""
    if setting == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return setting  # type: ignore[return-value]


def autocast_context(precision: Precision, device: torch.device, sharded: bool):
    """bf16 autocast over fp32 master weights on one device. Under FSDP2 the mixed-precision
    policy casts the gathered parameters instead, so no autocast is needed there."""
    if precision == "bf16" and not sharded:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def apply_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each block's activations in the backward pass (the wrapper keeps state-dict names)."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    for i, block in enumerate(model.blocks):
        model.blocks[i] = checkpoint_wrapper(block, preserve_rng_state=False)


def apply_compile(model: nn.Module) -> None:
    """Compile each block in place: every layer has the same code, so one graph is compiled per
    input shape and reused for all of them."""
    for block in model.blocks:
        block.compile(fullgraph=True)


def apply_fsdp(model: nn.Module, precision: Precision) -> None:
    """Shard every block, then the root (embedding, final norm, head), across all ranks."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if precision == "bf16" else None, reduce_dtype=torch.float32)
    last = len(model.blocks) - 1
    for i, block in enumerate(model.blocks):
        # The last block's parameters are needed again at once by the backward pass.
        fully_shard(block, mp_policy=mp, reshard_after_forward=i < last)
    fully_shard(model, mp_policy=mp)


def parallelize(
    model: nn.Module, env: DistEnv, precision: Precision, compile: bool, activation_checkpointing: bool
) -> nn.Module:
    if activation_checkpointing:
        apply_activation_checkpointing(model)
    if compile:
        apply_compile(model)
    if env.distributed:
        apply_fsdp(model, precision)
    return model
