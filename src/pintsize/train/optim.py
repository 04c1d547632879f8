"""AdamW with decay and no-decay parameter groups."""

from __future__ import annotations

import torch
from torch import nn

from pintsize.train.config import OptimizerConfig


def param_groups(model: nn.Module, cfg: OptimizerConfig) -> list[dict]:
    """Matrices decay; norm gains and the input embedding do not, unless the recipe asks for it
    (`decay_norms_and_embeddings`). A tied head shares the embedding tensor and follows it."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.ndim < 2 or name.endswith("tok_emb.weight")
        (no_decay if exempt and not cfg.decay_norms_and_embeddings else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: OptimizerConfig, device: torch.device) -> torch.optim.AdamW:
    """Fused AdamW (one kernel for all tensors) on CUDA and CPU; foreach elsewhere.

    The learning rate is set by the trainer before every step (see schedule.lr_at)."""
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(
        param_groups(model, cfg), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=fused, foreach=None if fused else True
    )
