"""The [data] section: raw sources and the curation steps (pintsize curate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section


class SourceConfig(Section):
    name: str = Field(description="a short name; it becomes the `source` column")
    path: str | None = Field(None, description="a file, directory or glob pattern")
    format: Literal["jsonl", "parquet", "text", "pydoc"] = "jsonl"
    text_field: str = "text"
    profile: Literal["web", "prose", "docs", "code"] = "prose"


class DataConfig(Section):
    sources: list[SourceConfig] = Field(default_factory=list)
