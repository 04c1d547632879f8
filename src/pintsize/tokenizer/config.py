"""The [tokenizer] section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section


class TokenizerConfig(Section):
    kind: Literal["pints", "train", "path", "extend"] = Field(
        "pints",
        description="pints: the 1.5-Pints tokenizer; train: a BPE on the corpus; path: an existing HF tokenizer dir; "
        "extend: the [adapt].base model's tokenizer plus `add` tokens learned on the corpus",
    )
    vocab_size: int = Field(8192, ge=384, description="for kind=train; rounded up to a multiple of 64")
    path: str | None = Field(None, description="for kind=path")
    add: int = Field(1000, gt=0, description="for kind=extend: how many tokens to learn and append")
