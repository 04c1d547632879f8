"""Model configs: the Llama-2 family shapes that pintsize trains, by name."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pintsize.errors import PintsizeError


class RopeScaling(BaseModel):
    """How positions are squeezed when a model runs past the context it was trained on.

    linear: position interpolation (positions divided by `factor`), as in HF's "linear" rope type.
    Changing `rope_base` (on ModelConfig) is the other lever, used by the 16K recipe.
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["linear"] = "linear"
    factor: float = Field(1.0, ge=1.0)


class LayerShape(BaseModel):
    """One block's widths, when they differ from layer to layer (a layer-adaptive prune)."""

    model_config = ConfigDict(extra="forbid")
    n_head: int = Field(gt=0)
    n_kv_head: int = Field(gt=0)
    d_ff: int = Field(gt=0)


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    vocab_size: int = Field(32064, gt=0, description="tokenizer vocabulary; embeddings are padded to a multiple of 64")
    n_layer: int = Field(gt=0)
    d_model: int = Field(gt=0)
    n_head: int = Field(gt=0)
    n_kv_head: int = Field(gt=0, description="= n_head: MHA; 1: MQA; in between: GQA")
    d_ff: int = Field(gt=0, description="SwiGLU hidden size")
    block_size: int = Field(2048, gt=0, description="context length")
    head_dim: int | None = Field(None, description="defaults to d_model // n_head")
    rope_base: float = Field(10000.0, gt=0)
    rope_scaling: RopeScaling | None = None
    norm_eps: float = Field(1e-5, gt=0)
    tie_embeddings: bool = False
    init_std: float = Field(0.02, gt=0)
    pad_multiple: int = Field(64, gt=0)
    layers: list[LayerShape] | None = Field(
        None, description="per-block widths (Adapt-Pruner's layer-adaptive pruning); None: every block has n_head, "
        "n_kv_head and d_ff. With layers, those three are the envelope every block fits in (what a uniform export pads to)"
    )

    @model_validator(mode="after")
    def _check_shapes(self) -> "ModelConfig":
        if self.n_head % self.n_kv_head != 0:
            raise ValueError(
                f"n_head ({self.n_head}) must be divisible by n_kv_head ({self.n_kv_head}) "
                "for grouped-query attention"
            )
        if self.head_dim is None:
            if self.d_model % self.n_head != 0:
                raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
            self.head_dim = self.d_model // self.n_head
        if self.head_dim % 2 != 0:
            raise ValueError(f"head_dim ({self.head_dim}) must be even for rotary embeddings")
        if self.layers is not None:
            if len(self.layers) != self.n_layer:
                raise ValueError(f"layers has {len(self.layers)} entries for n_layer = {self.n_layer}")
            group = self.n_head // self.n_kv_head
            for i, s in enumerate(self.layers):
                if s.n_head % s.n_kv_head or s.n_kv_head > self.n_kv_head or s.n_head // s.n_kv_head > group or s.d_ff > self.d_ff:
                    raise ValueError(
                        f"layers[{i}] ({s.n_head} heads, {s.n_kv_head} KV heads, d_ff {s.d_ff}) does not fit the envelope "
                        f"n_head={self.n_head}, n_kv_head={self.n_kv_head}, d_ff={self.d_ff} (whole GQA groups, none larger)"
                    )
            if all(s == self.layer_envelope() for s in self.layers):
                self.layers = None  # one form for a uniform model
        return self

    def layer(self, i: int) -> LayerShape:
        """Block i's widths."""
        return self.layers[i] if self.layers is not None else self.layer_envelope()

    def layer_envelope(self) -> LayerShape:
        return LayerShape(n_head=self.n_head, n_kv_head=self.n_kv_head, d_ff=self.d_ff)

    def padded_to_envelope(self) -> "ModelConfig":
        """The same model with every block at the envelope's widths (zero-padded weights compute the same)."""
        return self.model_copy(update={"layers": None})

    @property
    def padded_vocab_size(self) -> int:
        return math.ceil(self.vocab_size / self.pad_multiple) * self.pad_multiple

    def num_params(self, include_embedding: bool = True) -> int:
        """Exact parameter count of `pintsize.model.llama.Llama` built from this config."""
        d, hd = self.d_model, self.head_dim
        blocks = 0
        for i in range(self.n_layer):
            s = self.layer(i)
            blocks += 2 * d * (s.n_head * hd) + 2 * d * (s.n_kv_head * hd) + 3 * d * s.d_ff + 2 * d
        emb = self.padded_vocab_size * d
        head = 0 if self.tie_embeddings else emb
        return blocks + d + head + (emb if include_embedding else 0)


NAMED_CONFIGS: dict[str, ModelConfig] = {
    # A few hundred thousand parameters in the body: CPU tests and the demo.
    "tiny": ModelConfig(
        name="tiny", n_layer=4, d_model=128, n_head=4, n_kv_head=2, d_ff=352, block_size=512, vocab_size=32064
    ),
    "0.12-pint": ModelConfig(
        name="0.12-pint", n_layer=12, d_model=768, n_head=12, n_kv_head=1, d_ff=2048, block_size=2048
    ),
    "1.5-pints-2k": ModelConfig(
        name="1.5-pints-2k", n_layer=24, d_model=2048, n_head=32, n_kv_head=4, d_ff=8192, block_size=2048
    ),
    # Same weights as 2K; continued at 16K. The RoPE base is raised by the 16K recipe.
    "1.5-pints-16k": ModelConfig(
        name="1.5-pints-16k", n_layer=24, d_model=2048, n_head=32, n_kv_head=4, d_ff=8192, block_size=16384
    ),
}


def get_config(name: str, **overrides) -> ModelConfig:
    """A named config, with fields overridden (validated again after the override)."""
    if name not in NAMED_CONFIGS:
        raise PintsizeError(f"unknown model '{name}'; known models: {', '.join(NAMED_CONFIGS)}")
    base = NAMED_CONFIGS[name].model_dump(exclude={"head_dim"} if "d_model" in overrides or "n_head" in overrides else set())
    return ModelConfig.model_validate({**base, **overrides})
