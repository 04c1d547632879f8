"""The [pretrain], [sft] and [dpo] sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section


class OptimizerConfig(Section):
    lr: float = Field(4e-4, gt=0)
    min_lr: float = Field(4e-5, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = Field(0.1, ge=0)
    decay_norms_and_embeddings: bool = False
    warmup_steps: int = Field(2000, ge=0)
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    decay_fraction: float = Field(0.2, gt=0, le=1, description="wsd: share of steps spent decaying")
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")


class TrainConfig(Section):
    """Shared by every training stage (pretrain, sft, dpo)."""

    seq_len: int = Field(2048, gt=0)
    micro_batch_size: int = Field(8, gt=0, description="sequences per forward pass per device")
    global_batch_tokens: int = Field(512 * 2048, gt=0, description="tokens per optimizer step, all devices")
    max_steps: int | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, gt=0, description="the alternative to max_steps")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 autocast on GPU, fp32 on CPU")
    compile: bool = False
    activation_checkpointing: bool = False
    document_mask: bool = True
    ckpt_every: int = Field(1000, gt=0)
    keep_last: int = Field(3, gt=0)
    val_every: int = Field(500, gt=0)
    val_tokens: int = Field(1_000_000, gt=0)
    log_every: int = Field(10, gt=0)
    spike_threshold: float = Field(3.0, gt=1, description="skip a step whose loss exceeds this multiple of the running mean")
    max_bad_steps: int = Field(5, gt=0, description="consecutive skipped steps before the run stops")
    init_from: str | None = Field(None, description="a model or checkpoint dir to start from (context extension, fine-tuning)")
    seed: int = 1234


class PretrainConfig(TrainConfig):
    source_weights: dict[str, float] = Field(default_factory=dict, description="mixture weights by source; empty: natural")


class SFTConfig(TrainConfig):
    data: list[str] = Field(default_factory=list, description="JSONL/Parquet files: messages, ShareGPT or Alpaca")
    epochs: int = Field(5, gt=0)
    truncation: Literal["truncate", "drop"] = "truncate"
    val_fraction: float = Field(0.02, ge=0, lt=1, description="share of conversations held out for validation")


class DPOConfig(TrainConfig):
    data: list[str] = Field(default_factory=list, description="JSONL/Parquet preference pairs")
    beta: float = Field(0.1, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    epochs: int = Field(1, gt=0)
    reference: Literal["frozen", "cached"] = "cached"
    truncation: Literal["truncate", "drop"] = Field("truncate", description="a pair longer than seq_len: cut its replies, or skip it")
    val_fraction: float = Field(0.05, ge=0, lt=1, description="share of pairs held out for reward margin and accuracy")
