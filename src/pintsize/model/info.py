"""Sizes of a model config: parameters, FLOPs per token, memory for training and inference."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pintsize.model.config import ModelConfig

GiB = 1024**3


def flops_per_token(config: ModelConfig, seq_len: int | None = None, training: bool = True) -> float:
    """Training FLOPs per token = 6N + 12·L·d·T (N without the input embedding; the attention
    term counts QK^T and AV over the full, unmasked T, as PaLM's MFU convention does).
    Inference (forward only) is a third of that."""
    T = seq_len or config.block_size
    n = config.num_params(include_embedding=False)
    train = 6 * n + 12 * config.n_layer * config.d_model * T
    return float(train if training else train / 3)


@dataclass
class ModelInfo:
    name: str
    params: int
    params_without_embedding: int
    train_flops_per_token: float
    inference_flops_per_token: float
    train_memory_gib: float  # weights + grads + AdamW states, fp32 master weights, before activations
    activation_memory_gib_per_sample: float  # bf16, no activation checkpointing, one sequence of block_size
    inference_memory_gib_bf16: float  # weights in bf16
    kv_cache_mib_per_1k_tokens_bf16: float

    def as_dict(self) -> dict:
        return asdict(self)


def model_info(config: ModelConfig) -> ModelInfo:
    p = config.num_params()
    T, d, L = config.block_size, config.d_model, config.n_layer
    # Activations saved for backward per token per layer, in bf16 elements (a standard estimate:
    # norm inputs, qkv, attention output, projections, SwiGLU gate/up/product), plus the logits in fp32.
    per_tok_layer = 2 * d + (config.n_head + 2 * config.n_kv_head) * config.head_dim * 2 + 2 * d + 3 * config.d_ff
    act_bytes = T * (L * per_tok_layer * 2 + config.padded_vocab_size * 4 * 2)
    kv_per_token = 2 * L * config.n_kv_head * config.head_dim * 2
    return ModelInfo(
        name=config.name,
        params=p,
        params_without_embedding=config.num_params(include_embedding=False),
        train_flops_per_token=flops_per_token(config),
        inference_flops_per_token=flops_per_token(config, training=False),
        train_memory_gib=p * (4 + 4 + 8) / GiB,
        activation_memory_gib_per_sample=act_bytes / GiB,
        inference_memory_gib_bf16=p * 2 / GiB,
        kv_cache_mib_per_1k_tokens_bf16=kv_per_token * 1024 / 1024**2,
    )
