"""The [tokenizer] section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section


class TokenizerConfig(Section):
    kind: Literal["pints", "train", "path"] = Field(
        "pints", description="pints: the 1.5-Pints tokenizer; train: a BPE on the corpus; path: an existing HF tokenizer dir"
    )
    vocab_size: int = Field(8192, ge=384, description="for kind=train; rounded up to a multiple of 64")
    path: str | None = Field(None, description="for kind=path")
