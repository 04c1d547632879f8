"""The [pack] section: corpus -> token shards."""

from __future__ import annotations

from pydantic import Field

from pintsize.config_base import Section


class PackConfig(Section):
    val_fraction: float = Field(0.01, ge=0.0, lt=1.0, description="share of documents held out for validation")
    seed: int = 1234
    shard_tokens: int = Field(100_000_000, gt=0, description="tokens per shard file")
