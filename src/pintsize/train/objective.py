"""Training objectives: what the engine minimizes, separate from how it trains.

An objective maps `(model, batch) -> (loss, metrics)`, where `loss` is a SUM over the units the
objective counts (target tokens for language modelling and SFT, pairs for DPO) and every metric
is a sum over the same units. `units(batch)` says how many units a batch holds. The engine
counts the units of the whole global batch (all micro-batches, all ranks) before the backward
passes and divides by that total, so a step's gradient is the exact mean over the global batch
however the batch is split into micro-batches and ranks.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100


class Objective(Protocol):
    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def units(self, batch: dict) -> torch.Tensor: ...


def cross_entropy_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy in fp32; targets equal to -100 count nothing.

    Compiled, this fuses the upcast into the log-softmax, so fp32 logits are never
    materialized (the head's output stays bf16 under autocast)."""
    return F.cross_entropy(
        logits.flatten(0, -2).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )


class LMObjective:
    """Next-token prediction over packed documents (pretraining; SFT with masked targets).

    The batch holds `input_ids`, `targets` (-100 where no loss is wanted: across a document
    boundary, or on prompt tokens for SFT) and, prepared by the engine, `positions` and
    `attn_mask` (absent when the document mask is off)."""

    def __init__(self, compile: bool = False):
        self.loss_fn = torch.compile(cross_entropy_sum) if compile else cross_entropy_sum

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = model(batch["input_ids"], batch.get("positions"), batch.get("attn_mask"))
        return self.loss_fn(logits, batch["targets"]), {}

    def units(self, batch: dict) -> torch.Tensor:
        return (batch["targets"] != IGNORE_INDEX).sum()
