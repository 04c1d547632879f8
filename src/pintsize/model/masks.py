"""Attention masks for packed sequences: causal within each document, nothing across documents.

A document boundary is read from token positions (the loader restarts them at 0 for every
document): a new document starts wherever a position is not its predecessor's plus one.
"""

from __future__ import annotations

import torch


def document_ids(positions: torch.Tensor) -> torch.Tensor:
    """positions [B, T] -> document index of each token [B, T] (0 for the first document in the row)."""
    starts = positions[:, 1:] != positions[:, :-1] + 1
    return torch.cat([torch.zeros_like(positions[:, :1]), starts.long().cumsum(dim=1)], dim=1)


def document_causal_mask(positions: torch.Tensor) -> torch.Tensor:
    """Boolean SDPA mask [B, 1, T, T]: True where query i may attend key j (j <= i, same document)."""
    doc = document_ids(positions)
    T = positions.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=positions.device).tril()
    return (causal & (doc[:, :, None] == doc[:, None, :]))[:, None]


def prefix_causal_mask(start: int, length: int, device=None) -> torch.Tensor:
    """Mask [1, 1, length, start + length] for `length` new queries after `start` cached keys."""
    q = torch.arange(start, start + length, device=device)[:, None]
    k = torch.arange(start + length, device=device)[None, :]
    return (k <= q)[None, None]


def flex_document_mask(positions: torch.Tensor, block_size: int = 128):
    """FlexAttention BlockMask for the same rule: skips fully masked blocks, so cost falls with
    shorter documents. For CUDA; FlexAttention has no backward on CPU (torch 2.13)."""
    from torch.nn.attention.flex_attention import create_block_mask

    doc = document_ids(positions)
    B, T = positions.shape

    def mask_mod(b, h, q_idx, kv_idx):
        return (kv_idx <= q_idx) & (doc[b, q_idx] == doc[b, kv_idx])

    return create_block_mask(mask_mod, B, None, T, T, device=positions.device, BLOCK_SIZE=block_size)


def is_block_mask(mask) -> bool:
    return type(mask).__name__ == "BlockMask"
