"""Knowledge distillation (Hinton et al. 2015; Minitron's logit-only KD): forward KL from a frozen
teacher's next-token distribution to the student's, at temperature T, mixed with plain next-token
cross-entropy as (1 - r) * CE + r * T^2 * KL (T^2 keeps the gradient scale independent of T).

The teacher runs under no_grad in the same step on the same batch (no second copy of the data).
With `top_k`, only the teacher's k largest logits per token are kept (renormalized over those k)
and the KL is taken against the student's full-vocabulary log-probabilities at those k tokens:
sum_k p_T(k) (log p_T(k) - log p_S(k)), still >= 0, and it also pushes the student's mass off the
tokens the teacher dropped. Only [B, T, k] teacher values are kept, not a [B, T, V] fp32 copy.
"""

from __future__ import annotations

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
    logits = teacher_logits[..., :vocab].float() / temperature
    if top_k is None or top_k >= vocab:
        return F.log_softmax(logits, dim=-1), None
    values, ids = logits.topk(top_k, dim=-1)
    return F.log_softmax(values, dim=-1), ids


def forward_kl(student_logits: torch.Tensor, teacher_logp: torch.Tensor, teacher_ids: torch.Tensor | None,
               vocab: int, temperature: float) -> torch.Tensor:
    """Per-token KL(teacher || student) [...] at `temperature`, in fp32."""
    student_logp = F.log_softmax(student_logits[..., :vocab].float() / temperature, dim=-1)
    if teacher_ids is not None:
        student_logp = student_logp.gather(-1, teacher_ids)
    return (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1)


class DistillObjective:
    """The engine's objective protocol: sums over target tokens; metrics `kl` (to the teacher, at
    temperature T) and `ce` (next-token cross-entropy), both per-token sums."""

    def __init__(self, teacher: nn.Module, student_config: ModelConfig, temperature: float = 1.0,
                 kl_ratio: float = 1.0, top_k: int | None = None):
        check_same_vocabulary(teacher.config, student_config)
        self.teacher = teacher.eval().requires_grad_(False)
        self.vocab, self.temperature, self.kl_ratio, self.top_k = student_config.vocab_size, temperature, kl_ratio, top_k

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        args = (batch["input_ids"], batch.get("positions"), batch.get("attn_mask"))
        with torch.no_grad():
            t_logp, t_ids = teacher_targets(self.teacher(*args), self.vocab, self.temperature, self.top_k)
        logits = model(*args)
        targets = batch["targets"]
        mask = targets != IGNORE_INDEX
        kl = (forward_kl(logits, t_logp, t_ids, self.vocab, self.temperature) * mask).sum()
        ce = cross_entropy_sum(logits, targets)
        loss = (1 - self.kl_ratio) * ce + self.kl_ratio * self.temperature**2 * kl
        return loss, {"kl": kl.detach(), "ce": ce.detach()}

    def units(self, batch: dict) -> torch.Tensor:
        return (batch["targets"] != IGNORE_INDEX).sum()
