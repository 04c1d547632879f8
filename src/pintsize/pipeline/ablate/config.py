"""The [ablate] section: which data variants `pintsize ablate` trains, and how they are compared.

Every variant trains the recipe's [model] with the recipe's [pretrain] schedule on the same token
budget, with the same seeds and one shared tokenizer; only the [data] curation differs (see
`ablate.variants.VARIANTS` for the fixed set of variant names).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pintsize.config_base import Section

VariantName = Literal[
    "curated",
    "uncurated",
    "no_normalize",
    "no_language",
    "no_heuristics",
    "no_dedup",
    "no_pii",
    "no_quality",
    "no_mixture",
]


class AblateConfig(Section):
    variants: list[VariantName] = Field(
        default_factory=lambda: ["curated", "uncurated"], description="data variants to train (see `pintsize ablate --help`)"
    )
    reference: VariantName = Field(
        "curated", description="the variant the others are compared with; its corpus also trains the shared tokenizer"
    )
    seeds: list[int] = Field(default_factory=lambda: [1, 2], description="[pretrain].seed of each run of every variant")
    token_budget: int | None = Field(
        None, gt=0, description="training tokens per run; default: the recipe's [pretrain] max_tokens (or max_steps x batch)"
    )
    # held-out expository text
    heldout_sources: list[str] = Field(
        default_factory=list,
        description="[data] sources whose documents are split into train and held-out; default: the docs/prose-profile sources",
    )
    heldout_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="share of those documents held out (by hashed id)")
    heldout_path: str | None = Field(
        None, description="a separate held-out text (corpus, JSONL, Parquet, text files), used together with the split share"
    )
    decontam_ngram: int = Field(13, ge=5, description="words per n-gram when removing copies of held-out text from training")
    decontam_common_docs: int = Field(
        10, ge=1, description="a held-out n-gram found in more training documents than this is boilerplate, not a copy"
    )
    eval_bytes: int = Field(400_000, gt=0, description="held-out bytes scored for bits per byte (whole documents, hashed order)")
    eval_doc_chars: int = Field(16_000, gt=0, description="a longer held-out document is cut at a line end for scoring")
    # downstream tasks
    cloze_items: int = Field(400, ge=0, description="items of the held-out next-line cloze task (0 = off)")
    cloze_context_chars: int = Field(800, gt=0, description="characters of passage before the line to choose")
    cloze_seed: int = 0
    harness_tasks: list[str] = Field(
        default_factory=list, description="lm-eval tasks run for the record, e.g. pintsize_arc_easy (tiny models sit at chance)"
    )
    harness_include_paths: list[str] = Field(default_factory=list, description="folders of the user's own lm-eval task YAMLs")
    harness_limit: int | None = Field(200, gt=0, description="examples per harness task")
    eval_batch_size: int = Field(16, gt=0)
    threads: int | None = Field(
        None, gt=0, description="torch threads for training and evaluation (1 is fastest for tiny models on a busy CPU)"
    )

    @field_validator("variants", "seeds")
    @classmethod
    def _unique(cls, v: list) -> list:
        if not v:
            raise ValueError("must not be empty")
        repeated = sorted({str(x) for x in v if v.count(x) > 1})
        if repeated:
            raise ValueError(f"repeated: {', '.join(repeated)}")
        return v
