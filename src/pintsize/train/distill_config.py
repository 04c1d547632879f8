"""The `[distill]` settings: how a student learns from a frozen teacher (see distill_objective)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DistillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(description="the teacher: a pintsize model directory or a stage artifact holding one")
    temperature: float = Field(1.0, gt=0, description="softmax temperature of both teacher and student in the KL term")
    kl_ratio: float = Field(1.0, ge=0, le=1, description="r in (1 - r) * next-token CE + r * T^2 * KL")
    top_k: int | None = Field(None, gt=0, description="keep only the teacher's top-k logits per token (None: the full vocabulary)")
