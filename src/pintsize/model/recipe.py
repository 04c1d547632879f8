"""The [model] and [export] sections."""

from __future__ import annotations

from pydantic import Field, ValidationError, field_validator, model_validator

from pintsize.config_base import Section
from pintsize.model.config import NAMED_CONFIGS, ModelConfig, RopeScaling, get_config


class ModelSection(Section):
    """A named config plus overrides. vocab_size comes from the tokenizer unless set here."""

    name: str = "tiny"
    vocab_size: int | None = None
    n_layer: int | None = None
    d_model: int | None = None
    n_head: int | None = None
    n_kv_head: int | None = None
    d_ff: int | None = None
    block_size: int | None = None
    rope_base: float | None = None
    rope_scaling: RopeScaling | None = None
    norm_eps: float | None = None
    tie_embeddings: bool | None = None
    init_std: float | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in NAMED_CONFIGS:
            raise ValueError(f"unknown model '{name}'; known models: {', '.join(NAMED_CONFIGS)}")
        return name

    @model_validator(mode="after")
    def _resolves(self) -> "ModelSection":
        try:
            self.resolve()
        except ValidationError as e:
            raise ValueError("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None
        return self

    def resolve(self, vocab_size: int | None = None) -> ModelConfig:
        overrides = self.model_dump(exclude={"name"}, exclude_none=True)
        if vocab_size is not None and self.vocab_size is None:
            overrides["vocab_size"] = vocab_size
        return get_config(self.name, **overrides)


class ExportConfig(Section):
    hf: bool = True
    gguf: bool = False
    dtype: str = Field("bfloat16", pattern="^(float32|bfloat16|float16)$")
