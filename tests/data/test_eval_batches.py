"""Validation batches: finite, the same on every rank in number, every token counted once, no padding counted."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from pintsize.data.loader import eval_batches
from pintsize.data.shards import ShardSplit, read_meta

T, B = 100, 3


def _tokens_with_a_predecessor(shards):
    """The val tokens a model predicts: all but the first (BOS) of each document."""
    split = ShardSplit.open(shards, "val")
    return Counter(t for i in range(split.num_documents) for t in np.asarray(split.document(i))[1:].tolist())


@pytest.mark.parametrize("world", [1, 3])
def test_every_val_token_is_a_target_exactly_once(shards, world):
    per_rank = [list(eval_batches(shards, "val", T, B, rank=r, world_size=world)) for r in range(world)]
    assert len({len(b) for b in per_rank}) == 1  # every rank runs the same number of steps
    targets = torch.cat([b["targets"].flatten() for batches in per_rank for b in batches])
    counted = Counter(targets[targets != -100].tolist())
    assert counted == _tokens_with_a_predecessor(shards)


def test_padding_is_never_a_target_and_runs_are_deterministic(shards):
    pad = read_meta(shards)["pad_id"]
    batches = list(eval_batches(shards, "val", T, B))
    last = batches[-1]
    padded = last["input_ids"] == pad
    assert padded.any() and (last["targets"][padded] == -100).all()
    again = list(eval_batches(shards, "val", T, B))
    assert all(torch.equal(a[k], b[k]) for a, b in zip(batches, again) for k in a)


def test_max_tokens_takes_the_first_blocks(shards):
    batches = list(eval_batches(shards, "val", T, B, max_tokens=1000))
    assert sum(b["input_ids"].shape[0] for b in batches) == 12 and len(batches) == 4  # ceil(1000 / 100) blocks, 3 per batch
    real = torch.cat([b["targets"] for b in batches])
    assert (real != -100).sum() <= 1000
