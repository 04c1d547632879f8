"""Loss, perplexity and bits-per-byte of a model on held-out documents.

Every text token of every document is scored once (BOS is context, never a target; no EOS is
scored, since it has no bytes). Long documents are cut into windows of `seq_len` tokens; each
window scores `stride` new tokens and sees up to `seq_len - stride` earlier tokens as context.

Bits per byte = total negative log-likelihood in bits / UTF-8 bytes of the text. It does not
depend on the tokenizer, so models with different tokenizers can be compared with it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from pintsize.errors import PintsizeError
from pintsize.model.llama import Llama

LOGIT_ROWS = 1024  # positions projected to the vocabulary at once (bounds memory at large vocabularies)


@dataclass
class PerplexityResult:
    documents: int
    tokens: int
    bytes: int
    nll: float  # total, in nats
    seq_len: int
    stride: int

    @property
    def loss(self) -> float:
        return self.nll / self.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_byte(self) -> float:
        return self.nll / math.log(2) / self.bytes

    def as_dict(self) -> dict:
        return {**asdict(self), "loss": self.loss, "perplexity": self.perplexity, "bits_per_byte": self.bits_per_byte}


def windows(ids: list[int], seq_len: int, stride: int) -> list[tuple[list[int], int]]:
    """(window tokens, how many of its last tokens are scored) covering the targets ids[1:] exactly once.

    A window of k + 1 tokens is k inputs and their k next-token targets; at most seq_len inputs.
    """
    out = []
    start = 1  # the first target position
    while start < len(ids):
        end = min(start + stride, len(ids))  # targets start .. end - 1
        out.append((ids[max(0, end - 1 - seq_len) : end], end - start))
        start = end
    return out


def document_ids(tokenizer, text: str) -> list[int]:
    """The document's tokens, always opening with BOS (or EOS for a tokenizer without one) as context."""
    ids = tokenizer.encode(text, add_special_tokens=True)
    first = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return ids if ids and ids[0] == first else [first, *ids]


@torch.inference_mode()
def evaluate_perplexity(
    model: Llama,
    tokenizer,
    texts: list[str],
    seq_len: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> PerplexityResult:
    """`progress(windows_done, windows_total)` is called after every batch."""
    block = model.config.block_size
    seq_len = seq_len or block
    stride = stride or seq_len
    if seq_len > block:
        raise PintsizeError(f"seq_len {seq_len} is longer than the model's context of {block} tokens")
    if not 0 < stride <= seq_len:
        raise PintsizeError(f"stride must be in 1..seq_len ({seq_len}); got {stride}")
    vocab = len(tokenizer)
    work, n_tokens, n_bytes = [], 0, 0
    for text in texts:
        ids = document_ids(tokenizer, text)
        n_tokens += len(ids) - 1
        n_bytes += len(text.encode("utf-8"))
        work += windows(ids, seq_len, stride)
    work.sort(key=lambda w: -len(w[0]))  # similar lengths together: little padding
    device = model.tok_emb.weight.device
    nll = 0.0
    for i in range(0, len(work), batch_size):
        batch = work[i : i + batch_size]
        width = len(batch[0][0])
        x = torch.zeros(len(batch), width, dtype=torch.long)
        scored = torch.zeros(len(batch), width - 1, dtype=torch.bool)
        for row, (tokens, n) in enumerate(batch):
            x[row, : len(tokens)] = torch.tensor(tokens)
            scored[row, len(tokens) - 1 - n : len(tokens) - 1] = True
        x, scored = x.to(device), scored.to(device)
        hidden = model.hidden_states(x[:, :-1])[scored]  # right padding never reaches real tokens (causal)
        targets = x[:, 1:][scored]
        for j in range(0, hidden.shape[0], LOGIT_ROWS):
            logits = model.lm_head(hidden[j : j + LOGIT_ROWS])[:, :vocab].float()
            nll += F.cross_entropy(logits, targets[j : j + LOGIT_ROWS], reduction="sum").item()
        if progress is not None:
            progress(len(batch), len(work))
    return PerplexityResult(len(texts), n_tokens, n_bytes, nll, seq_len, stride)
