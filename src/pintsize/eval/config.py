"""The [eval] section."""

from __future__ import annotations

from pydantic import Field

from pintsize.config_base import Section


class EvalConfig(Section):
    perplexity: bool = True
    harness_tasks: list[str] = Field(default_factory=list)
    harness_limit: int | None = None
    num_fewshot: int | None = None
    mtbench_judge_url: str | None = None
    mtbench_judge_model: str | None = None
    passkey_lengths: list[int] = Field(default_factory=list)
    samples: list[str] = Field(default_factory=list, description="prompts for sample generations in the report")
