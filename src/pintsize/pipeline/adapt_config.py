"""The [adapt] section: take a trained model to a new language or domain (recipes/adapt-language.toml).

The run curates the new text ([data]), makes a tokenizer for it ([tokenizer] kind = "train" for
a fresh one, "extend" to add tokens to the model's own), gives the model that tokenizer (stage
`transfer`), continues pretraining from it ([pretrain], with `freeze_until_step` warming up the
embeddings first) and measures held-out bits per byte in the new and the old domain before and
after (stage `adapt_eval`), which shows what was gained and what was forgotten.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section

BUILTIN_PYDOC = "builtin:pydoc"


class AdaptConfig(Section):
    base: str = Field(description="the model to adapt: a model or training-stage artifact, a .gguf file, or builtin:smollm2")
    init: Literal["mean", "focus", "random"] = Field("mean", description="how the new tokens' embeddings start (FVT mean, FOCUS, random)")
    fallback: Literal["mean", "random"] | None = Field(
        None, description="focus only: what to use instead when the corpus is too small for static embeddings (default: stop)"
    )
    seed: int = 0
    old_domain: str = Field(
        BUILTIN_PYDOC, description="held-out text of the model's old domain: builtin:pydoc (English stdlib docs) or JSONL/Parquet/text files"
    )
    eval_documents: int = Field(12, gt=0, description="held-out documents per domain")
    eval_chars: int = Field(1500, gt=0, description="each held-out document is cut to this many characters")
    eval_seq_len: int = Field(256, gt=1, description="window length for the held-out bits per byte")
