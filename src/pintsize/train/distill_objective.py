"""Knowledge distillation (Hinton et al. 2015; Minitron's logit-only KD): forward KL from a frozen
teacher's next-token distribution to the student's, at temperature T, mixed with plain next-token
cross-entropy as (1 - r) * CE + r * T^2 * KL (T^2 keeps the gradient scale independent of T).

The teacher runs under no_grad in the same step on the same batch (no second copy of the data).
With `top_k`, only the teacher's k most likely tokens per token are kept, with their full-softmax
log-probabilities, and the rest of the vocabulary is one more bucket: the KL is the exact KL between
the (k + 1)-bucket views of both distributions, sum_k p_T(k) log(p_T(k) / p_S(k)) + p_T(rest)
log(p_T(rest) / p_S(rest)). It is >= 0, never above the full KL, and equal to it at k = V. (The
earlier form renormalized the teacher over its k tokens, which told the student that every other
token has probability 0: on SmolLM2 at k = 64 that left its next-token loss behind plain training.)
Only [B, T, k] teacher values are kept, not a [B, T, V] fp32 copy: the top k is taken on the
teacher's own logits (bf16 under autocast); the log-sum-exp is computed in fp32 a chunk of rows at a
time (`logsumexp_fp32`), because a bf16 log_z of SmolLM2's logits (~20) is rounded to a step of
0.125 and put every top-k log-probability off by up to 0.06 nats.

A batch may carry the teacher's targets already (`teacher_logp`, `teacher_ids`: computed once and
shared by several students, as benchmarks/distill_smollm2.py does); the teacher is not run then.
With a table of each token's length in bytes (`token_bytes`), validation also reports bits per
byte of the student's next-token loss (`bpb`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pintsize.errors import PintsizeError
from pintsize.model.config import ModelConfig
from pintsize.train.objective import IGNORE_INDEX, cross_entropy_sum


def check_same_vocabulary(teacher: ModelConfig, student: ModelConfig, teacher_source: str = "teacher") -> None:
    if teacher.vocab_size != student.vocab_size:
        raise PintsizeError(
            f"{teacher_source}: the teacher's vocabulary ({teacher.vocab_size}) differs from the student's "
            f"({student.vocab_size}); distillation needs the same tokenizer"
        )


def teacher_targets(teacher_logits: torch.Tensor, vocab: int, temperature: float, top_k: int | None):
    """Teacher logits [..., V] -> (log-probabilities [..., k], token ids [..., k] or None), fp32."""
    logits = teacher_logits[..., :vocab]
    if top_k is None or top_k >= vocab:
        return F.log_softmax(logits.float() / temperature, dim=-1), None
    values, ids = logits.topk(top_k, dim=-1)  # the same k at any temperature > 0
    return values.float() / temperature - logsumexp_fp32(logits, temperature), ids


def logsumexp_fp32(logits: torch.Tensor, temperature: float = 1.0, rows: int = 1024) -> torch.Tensor:
    """logsumexp(logits / T) over the last dim [..., 1], in fp32 whatever the logits' dtype (and
    outside autocast), `rows` rows at a time: only a [rows, V] fp32 copy exists at once."""
    flat = logits.reshape(-1, logits.shape[-1])
    with torch.autocast(logits.device.type, enabled=False):
        parts = [torch.logsumexp(chunk.float() / temperature, dim=-1) for chunk in flat.split(rows)]
    return torch.cat(parts).view(*logits.shape[:-1], 1)


def forward_kl(student_logits: torch.Tensor, teacher_logp: torch.Tensor, teacher_ids: torch.Tensor | None,
               vocab: int, temperature: float) -> torch.Tensor:
    """Per-token KL(teacher || student) [...] at `temperature`, in fp32."""
    return kl_from_log_probs(F.log_softmax(student_logits[..., :vocab].float() / temperature, dim=-1), teacher_logp, teacher_ids)


def kl_from_log_probs(student_logp: torch.Tensor, teacher_logp: torch.Tensor, teacher_ids: torch.Tensor | None) -> torch.Tensor:
    if teacher_ids is None:
        return (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1)
    student_logp = student_logp.gather(-1, teacher_ids)
    kept = (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1)
    # The bucket of every other token: log(1 - sum p) of both, clamped (it is ~0 where k covers ~all).
    t_rest = _log1m_sum_exp(teacher_logp)
    s_rest = _log1m_sum_exp(student_logp)
    return kept + t_rest.exp() * (t_rest - s_rest)


def _log1m_sum_exp(logp: torch.Tensor) -> torch.Tensor:
    """log(1 - sum(exp(logp), -1)), kept finite."""
    return torch.log1p(-logp.exp().sum(-1).clamp(max=1.0 - 1e-6))


class DistillObjective:
    """The engine's objective protocol: sums over target tokens; metrics `kl` (to the teacher, at
    temperature T), `ce` (next-token cross-entropy) and, with `token_bytes`, `bytes` (what the
    target tokens spell), all per-token sums. `teacher` may be None when every batch carries the
    teacher's targets."""

    def __init__(self, teacher: nn.Module | None, student_config: ModelConfig, temperature: float = 1.0,
                 kl_ratio: float = 1.0, top_k: int | None = None, token_bytes: torch.Tensor | None = None):
        if teacher is not None:
            check_same_vocabulary(teacher.config, student_config)
            teacher = teacher.eval().requires_grad_(False)
        self.teacher = teacher
        self.vocab, self.temperature, self.kl_ratio, self.top_k = student_config.vocab_size, temperature, kl_ratio, top_k
        self.token_bytes = token_bytes

    def targets_of_teacher(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        if "teacher_logp" in batch:
            return batch["teacher_logp"].float(), batch.get("teacher_ids")
        if self.teacher is None:
            raise ValueError("DistillObjective without a teacher needs batches that carry teacher_logp")
        device = batch["input_ids"].device
        if self.teacher.lm_head.weight.device != device:  # built before the engine picked the device
            self.teacher.to(device)
        with torch.no_grad():
            logits = self.teacher(batch["input_ids"], batch.get("positions"), batch.get("attn_mask"))
            return teacher_targets(logits, self.vocab, self.temperature, self.top_k)

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t_logp, t_ids = self.targets_of_teacher(batch)
        logits = model(batch["input_ids"], batch.get("positions"), batch.get("attn_mask"))
        targets = batch["targets"]
        mask = targets != IGNORE_INDEX
        student_logp = F.log_softmax(logits[..., : self.vocab].float() / self.temperature, dim=-1)
        kl = (kl_from_log_probs(student_logp, t_logp, t_ids) * mask).sum()
        if self.temperature == 1 and logits.shape[-1] == self.vocab:
            # the same log-softmax gives the next-token loss: one [B, T, V] fp32 pass fewer
            picked = student_logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            ce = -(picked * mask).sum()
        else:  # padded vocabulary rows count in the usual loss (as LMObjective computes it)
            ce = cross_entropy_sum(logits, targets)
        loss = (1 - self.kl_ratio) * ce + self.kl_ratio * self.temperature**2 * kl
        metrics = {"kl": kl.detach(), "ce": ce.detach()}
        if self.token_bytes is not None:
            table = self.token_bytes.to(targets.device)
            metrics["bytes"] = (table[targets.clamp(min=0)] * mask).sum().float()
        return loss, metrics

    @staticmethod
    def derived(means: dict[str, float]) -> dict[str, float]:
        """Bits per byte from the per-token means: sum CE / (ln 2 * sum bytes)."""
        if not means.get("bytes"):
            return {}
        return {"bpb": means["ce"] / math.log(2) / means["bytes"]}

    def units(self, batch: dict) -> torch.Tensor:
        return (batch["targets"] != IGNORE_INDEX).sum()
