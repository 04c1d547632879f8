"""The [pretrain], [sft] and [dpo] sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pintsize.config_base import Section

# More optimizer steps than any run could take (and than itertools.islice accepts): a typo.
MAX_STEPS = 10**10


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

    @model_validator(mode="after")
    def _floor_below_peak(self) -> "OptimizerConfig":
        # The schedules decay from lr to min_lr: a floor above the peak would make the "decay" a climb.
        if self.min_lr > self.lr:
            default = ", its default" if "min_lr" not in self.model_fields_set else ""
            raise ValueError(f"min_lr ({self.min_lr:g}{default}) is larger than lr ({self.lr:g}): the schedule decays "
                             "from lr down to min_lr; set min_lr <= lr")
        return self


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
    seed: int = Field(1234, ge=0, lt=2**63, description="0 <= seed < 2**63 (what torch.manual_seed accepts on every rank)")
    freeze_until_step: int = Field(
        0, ge=0, description="train only the embeddings and output head for the first N steps, then every parameter (adaptation)"
    )

    @model_validator(mode="after")
    def _steps_fit(self) -> "TrainConfig":
        """What the trainer would reject only after curation, tokenizer and pack have run."""
        per_pass = self.seq_len * self.micro_batch_size
        if self.global_batch_tokens % per_pass:
            raise ValueError(
                f"global_batch_tokens ({self.global_batch_tokens:,}) must be a multiple of seq_len x micro_batch_size "
                f"({self.seq_len} x {self.micro_batch_size} = {per_pass:,}); under torchrun, of seq_len x "
                f"micro_batch_size x the number of processes"
            )
        steps = self.max_steps or (-(-self.max_tokens // self.global_batch_tokens) if self.max_tokens else 0)
        if steps and self.freeze_until_step > steps:
            raise ValueError(f"freeze_until_step ({self.freeze_until_step:,}) is past the run's last step ({steps:,})")
        if steps > MAX_STEPS:
            key = "max_steps" if self.max_steps else "max_tokens"
            raise ValueError(f"{key} makes a run of {steps:,} steps; at most {MAX_STEPS:,} steps are allowed")
        return self


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


def check_seq_len_fits(recipe) -> None:
    """Each training section's seq_len against the context of the model it trains, where the
    recipe says which model that is: a recipe that sets [model] or [pretrain] trains the chain
    from its own model (not with an init_from or a reused artifact, and not a recipe that only
    fine-tunes a model named on the command line: that model's context is checked when the
    stage starts)."""
    if not recipe.model_fields_set & {"model", "pretrain"}:
        return
    block = recipe.model.resolve().block_size
    reused = recipe.run.reuse
    distill = getattr(recipe, "distill", None)  # replaces pretrain; a pruned or given student is checked when it starts
    starts = {"pretrain": distill is None, "distill": distill is not None and not (distill.student or distill.prune), "sft": not reused.keys() & {"pretrain"}, "dpo": not reused.keys() & {"pretrain", "sft"}}
    for section, from_recipe_model in starts.items():
        config = getattr(recipe, section, None)
        if config is None or config.init_from or not from_recipe_model:
            continue
        if config.seq_len > block:
            raise ValueError(
                f"[{section}].seq_len ({config.seq_len:,}) is longer than the model's block_size ({block:,}): "
                f"lower it or raise [model].block_size"
            )
