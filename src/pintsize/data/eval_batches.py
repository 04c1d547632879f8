"""Validation batches: a finite, deterministic pass over a split in which every token counts once.

The split's documents are read in packed order as blocks of seq_len + 1 tokens at stride
seq_len, like training; the last block is usually shorter. Rows a rank has no block for, and
the tail of the short block, are filled with PAD inputs and -100 targets, so no padding is ever
counted. Every rank yields the same number of batches (FSDP needs all ranks to run each step);
over all ranks, each token of the split except the first of each document (a BOS, which
nothing predicts) is a target exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from pintsize.data.shards import ShardSplit
from pintsize.data.streams import DocumentStream
from pintsize.errors import PintsizeError

IGNORE = -100


def eval_batches(
    shards_dir: str | Path,
    split: str = "val",
    seq_len: int = 2048,
    batch_size: int = 8,
    rank: int = 0,
    world_size: int = 1,
    max_tokens: int | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of `input_ids`, `targets`, `positions` ([batch_size, seq_len] int64) over the split
    (only its first `max_tokens` tokens, rounded up to whole blocks, when given)."""
    if not 0 <= rank < world_size:
        raise PintsizeError(f"rank {rank} is not in [0, world_size={world_size})")
    data = ShardSplit.open(shards_dir, split)
    pad = data.meta.get("pad_id")
    pad = data.meta["eos_id"] if pad is None else pad
    stream = DocumentStream(data, np.arange(data.num_documents), seed=0)
    total = stream.tokens_per_pass
    if max_tokens is not None:
        total = min(total, max_tokens + 1)
    n_blocks = -(-(total - 1) // seq_len) if total > 1 else 0
    blocks = list(range(rank, n_blocks, world_size))
    n_batches = -(-n_blocks // (world_size * batch_size))
    T = seq_len
    for i in range(n_batches):
        tokens = np.full((batch_size, T + 1), pad, dtype=np.int64)
        positions = np.tile(np.arange(T + 1, dtype=np.int64), (batch_size, 1))
        mask = np.ones((batch_size, T + 1), dtype=np.uint8) if data.masks is not None else None
        valid = np.zeros((batch_size, T + 1), dtype=bool)
        for b, k in enumerate(blocks[i * batch_size : (i + 1) * batch_size]):
            n = min(T + 1, total - k * T)
            stream.read(k * T, tokens[b, :n], positions[b, :n], None if mask is None else mask[b, :n])
            positions[b, n:] = np.arange(T + 1 - n)  # the padding is a document of its own
            valid[b, :n] = True
        targets = tokens[:, 1:].copy()
        drop = ~valid[:, 1:] | (positions[:, 1:] == 0)
        if mask is not None:
            drop |= mask[:, 1:] == 0
        targets[drop] = IGNORE
        yield {
            "input_ids": torch.from_numpy(np.ascontiguousarray(tokens[:, :-1])),
            "targets": torch.from_numpy(targets),
            "positions": torch.from_numpy(np.ascontiguousarray(positions[:, :-1])),
        }
