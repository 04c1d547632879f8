"""Training phases: the embeddings warm up first, then every parameter trains.

After a tokenizer transfer the new embedding rows are guesses while the transformer blocks are
trained; updating the blocks against those guesses would damage them (the forgetting the
adaptation papers warn about). So for the first `freeze_until_step` steps only the input
embedding and the output head train. A frozen parameter gets no gradient, and AdamW skips a
parameter without one (no moment update, no weight decay), so it stays bit-identical.
"""

from __future__ import annotations

from torch import nn

EMBEDDING_PARAMS = ("tok_emb.weight", "lm_head.weight")  # a tied head is the same tensor as tok_emb


def is_embedding(name: str) -> bool:
    return name.endswith(EMBEDDING_PARAMS)  # also under wrappers' prefixes (_orig_mod., module.)


def set_phase(model: nn.Module, step: int, freeze_until_step: int) -> str:
    """Make only the embeddings trainable while `step` (the step about to run, from 1) is within
    the warm-up; every parameter after it. Returns the phase's name."""
    embeddings_only = step <= freeze_until_step
    for name, p in model.named_parameters():
        p.requires_grad_(not embeddings_only or is_embedding(name))
    return "embeddings" if embeddings_only else "all"
