"""The [pack] section: corpus -> token shards."""

from __future__ import annotations

from pydantic import Field

from pintsize.config_base import Section


class PackConfig(Section):
    val_fraction: float = Field(0.01, ge=0.0, lt=1.0, description="share of documents held out for validation")
    seed: int = Field(1234, description="seed of the global document shuffle (and so of the train/val split)")
    shard_tokens: int = Field(100_000_000, gt=0, description="tokens per shard file (shards end at document boundaries)")
    unit_bytes: int = Field(
        4_000_000, gt=0, description="characters of text per tokenization unit: the grain of parallel work and of resuming"
    )
