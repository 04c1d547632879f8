"""How the next token is chosen: greedy, or sampled after repetition penalty, temperature, top-k, top-p.

The logits transforms are transformers' own processors, applied in the order its `generate` applies
them, so that our sampling means exactly what the same settings mean in Hugging Face (and a seeded
run can be compared token for token).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import torch

from pintsize.errors import PintsizeError


_IMPORT_LOCK = threading.Lock()
MAX_TOP_LOGPROBS = 20  # OpenAI's limit for top_logprobs


@dataclass(frozen=True)
class TokenLogprob:
    """One chosen token, its log-probability and the `k` most likely tokens (most likely first).

    The log-probabilities are the model's own: log-softmax of its logits over the tokenizer's
    vocabulary, before repetition penalty, temperature, top-k and top-p (what vLLM returns by
    default), so they do not depend on the sampling settings."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


def token_logprob(logits: torch.Tensor, token: int, k: int) -> TokenLogprob:
    """logits [1, vocab] (already cut to the tokenizer's vocabulary)."""
    logp = torch.log_softmax(logits[0].float(), dim=-1)
    values, ids = torch.topk(logp, min(k, logp.numel())) if k else (logp[:0], logp[:0].long())
    return TokenLogprob(token, float(logp[token]), tuple(zip(ids.tolist(), values.tolist())))


class GenerationError(PintsizeError):
    """A generation request that cannot be served as asked (bad setting, prompt too long)."""


@dataclass(frozen=True)
class SamplingParams:
    """Settings of one generation. temperature 0 (or top_k 1) means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None
    logprobs: int | None = None  # None: none; k >= 0: each chosen token's log-probability and the k most likely

    def __post_init__(self) -> None:
        checks = {
            "max_new_tokens": (self.max_new_tokens >= 1, "must be at least 1"),
            "temperature": (math.isfinite(self.temperature) and self.temperature >= 0, "must be >= 0"),
            "top_k": (self.top_k >= 0, "must be >= 0 (0 turns it off)"),
            "top_p": (0 < self.top_p <= 1, "must be in (0, 1]"),
            "repetition_penalty": (  # below 0.01, dividing a logit by it can overflow to inf
                math.isfinite(self.repetition_penalty) and self.repetition_penalty >= 0.01,
                "must be >= 0.01 (1 turns it off)",
            ),
            "seed": (self.seed is None or 0 <= self.seed < 2**64, "must be in [0, 2^64)"),  # torch's seed range
            "logprobs": (self.logprobs is None or 0 <= self.logprobs <= MAX_TOP_LOGPROBS, f"must be in [0, {MAX_TOP_LOGPROBS}]"),
        }
        for name, (ok, why) in checks.items():
            if not ok:
                raise GenerationError(f"{name} {why} (got {getattr(self, name)!r})")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise GenerationError(f"stop strings must be non-empty strings (got {list(self.stop)!r})")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        # A temperature too small for float32 (the logits' type) would be 0 there: it is greedy, its limit.
        return self.temperature < torch.finfo(torch.float32).tiny or self.top_k == 1


class TokenChooser:
    """Picks each next token for one sequence; holds the seeded random generator of that sequence."""

    def __init__(self, params: SamplingParams, vocab_size: int, device: torch.device, record: list | None = None):
        """`record`: a list that gets a TokenLogprob per chosen token when params.logprobs is set."""
        with _IMPORT_LOCK:  # transformers' lazy top-level names are not safe to resolve from many threads at once
            from transformers.generation.logits_process import (
                LogitsProcessorList,
                RepetitionPenaltyLogitsProcessor,
                TemperatureLogitsWarper,
                TopKLogitsWarper,
                TopPLogitsWarper,
            )

        self.params = params
        self.vocab_size = vocab_size
        self.record = record if params.logprobs is not None else None
        self.penalties = LogitsProcessorList(
            [RepetitionPenaltyLogitsProcessor(params.repetition_penalty)] if params.repetition_penalty != 1.0 else []
        )
        warpers = []
        if not params.greedy:
            if params.temperature != 1.0:
                warpers.append(TemperatureLogitsWarper(params.temperature))
            if params.top_k > 0:
                warpers.append(TopKLogitsWarper(params.top_k))
            if params.top_p < 1.0:
                warpers.append(TopPLogitsWarper(params.top_p))
        self.warpers = LogitsProcessorList(warpers)
        self.generator = None
        if not params.greedy:
            self.generator = torch.Generator(device=device)
            if params.seed is not None:
                self.generator.manual_seed(params.seed)
            else:
                self.generator.seed()

    def __call__(self, logits: torch.Tensor, seen_ids: torch.Tensor) -> int:
        """logits [1, padded_vocab] of the last position; seen_ids [1, T] prompt + generated so far."""
        # Rows past the tokenizer's vocabulary are padding: never choose them.
        logits = logits[:, : self.vocab_size]
        token = self._choose(logits, seen_ids)
        if self.record is not None:  # appended before the token is handed on: a reader of the token finds it
            self.record.append(token_logprob(logits, token, self.params.logprobs))
        return token

    def _choose(self, logits: torch.Tensor, seen_ids: torch.Tensor) -> int:
        scores = self.penalties(seen_ids, logits.float())
        if self.params.greedy:
            return int(scores.argmax(dim=-1))
        probs = torch.softmax(self.warpers(seen_ids, scores), dim=-1)
        if not torch.isfinite(probs).all():
            # A temperature near 0 divided the logits into inf (and softmax into NaN). Softmax, top-k and
            # top-p do not change under a shift, and after one that puts the largest logit at 0 the same
            # division gives -inf instead: the distribution becomes its greedy limit, as it should.
            probs = torch.softmax(self.warpers(seen_ids, scores - scores.max()), dim=-1)
        return int(torch.multinomial(probs, num_samples=1, generator=self.generator))
