"""Direct Preference Optimization (Rafailov et al., 2023): the sigmoid loss with temperature beta.

For a pair with chosen reply y_w and rejected reply y_l to prompt x, the implicit rewards are
r_w = beta * (log pi(y_w|x) - log pi_ref(y_w|x)) and r_l likewise, and the loss is
-log sigmoid(r_w - r_l). Sequence log-probabilities are sums over the reply's tokens only.

A batch holds 2B rows, the B chosen sequences then the B rejected ones: `input_ids`, `targets`
(-100 outside the replies and on padding) and, when the reference is cached, `ref_logps` [2B].
Otherwise a frozen copy of the starting model computes them on the fly.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pintsize.model.config import ModelConfig
from pintsize.train.objective import IGNORE_INDEX


def sequence_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[N, T, V] logits, [N, T] targets -> [N] summed log-probabilities of the targets (fp32)."""
    nll = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none")
    return -nll.view(targets.shape).sum(-1)


def dpo_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair losses and the chosen and rejected rewards, all [B]."""
    chosen_rewards = beta * (chosen - ref_chosen)
    rejected_rewards = beta * (rejected - ref_rejected)
    return -F.logsigmoid(chosen_rewards - rejected_rewards), chosen_rewards, rejected_rewards


class FrozenReference:
    """The starting model, frozen, built on the first batch's device: reference log-probabilities
    computed alongside the policy's (the `reference = "frozen"` setting; memory for a second model
    instead of a pass over the data before training). It is not sharded, and runs under bf16
    autocast when the run's precision is bf16 (also under FSDP, where the engine uses none)."""

    def __init__(self, config: ModelConfig, state: dict[str, torch.Tensor], precision: str = "auto"):
        self.config, self.state, self.precision = config, state, precision
        self.model: nn.Module | None = None

    @torch.no_grad()
    def __call__(self, batch: dict) -> torch.Tensor:
        from pintsize.train.parallelize import autocast_context, resolve_precision

        device = batch["input_ids"].device
        if self.model is None:
            from pintsize.model.checkpoint import build_model

            self.model = build_model(self.config, self.state, "reference model", device=device).eval()
            self.model.requires_grad_(False)
            self.state = None
        with autocast_context(resolve_precision(self.precision, device), device, sharded=False):
            return sequence_logps(self.model(batch["input_ids"]), batch["targets"])


class DPOObjective:
    """The objective protocol of `pintsize.train.objective`: a sum over pairs, and per-pair metric
    sums, which the engine logs as means over pairs: `reward_margin`, `accuracy` (the share of
    pairs whose chosen reply gets the higher reward), `chosen_reward` and `rejected_reward`."""

    unit = "pairs"  # what `units()` counts: the console says "validation loss ... on N pairs"

    def __init__(self, beta: float, reference: Callable[[dict], torch.Tensor] | None = None):
        self.beta = beta
        self.reference = reference

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logps = sequence_logps(model(batch["input_ids"]), batch["targets"])
        ref = batch["ref_logps"] if "ref_logps" in batch else self.reference(batch)
        b = logps.shape[0] // 2
        losses, chosen_rewards, rejected_rewards = dpo_loss(logps[:b], logps[b:], ref[:b].float(), ref[b:].float(), self.beta)
        margins = (chosen_rewards - rejected_rewards).detach()
        return losses.sum(), {
            "reward_margin": margins.sum(),
            "accuracy": (margins > 0).float().sum(),
            "chosen_reward": chosen_rewards.detach().sum(),
            "rejected_reward": rejected_rewards.detach().sum(),
        }

    def units(self, batch: dict) -> torch.Tensor:
        ids = batch["input_ids"]
        return torch.tensor(ids.shape[0] // 2, device=ids.device)
