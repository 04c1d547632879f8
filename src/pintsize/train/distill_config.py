"""The `[distill]` section: a student learns from a frozen teacher (see distill_objective) on the
pretraining engine and data (packed shards), with every [pretrain] setting (steps, batch,
optimizer, checkpoints) as well.

When a recipe has [distill], it replaces [pretrain] in `pintsize run`: SFT, eval and export use
the distilled model. With `correct_teacher_steps`, the teacher is first fine-tuned on the shards
(train/teacher_correct.py) and everything after uses the corrected teacher. The student is, in order: `student` (a model dir, a prune or training-stage
artifact), else the teacher pruned to `prune` (the run's `prune` stage, calibrated on the run's
training shards), else the recipe's [model] config from random initialization.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.train.config import TrainConfig

GGUF_BUILTIN = "builtin:"


def is_gguf(teacher: str) -> bool:
    """A teacher the run imports first (`pintsize import gguf`): a .gguf file or builtin:smollm2."""
    return teacher.startswith(GGUF_BUILTIN) or teacher.endswith(".gguf")


class DistillConfig(TrainConfig):
    teacher: str = Field(
        description="the teacher: a pintsize model dir or a stage artifact holding one; a .gguf file or "
        "builtin:smollm2 is imported by the run's `teacher` stage"
    )
    student: str | None = Field(None, description="the student: a model dir or artifact (e.g. `pintsize prune`'s output)")
    prune: str | None = Field(
        None, description="without `student`: prune the teacher to this target (70M, a named config, n_layer=..,d_ff=..)"
    )
    calib_tokens: int = Field(65536, gt=0, description="with `prune`: training tokens to score importance on")
    depth_score: Literal["cosine", "loss"] = Field(
        "cosine", description="with `prune` to fewer layers: drop the blocks with the least 1 - cos(input, output), "
        "or the least loss increase when dropped (one calibration pass per block)"
    )
    prune_iterations: int = Field(
        1, ge=1, le=100, description="with `prune` (a parameter count): Adapt-Pruner, reach it in this many rounds of a "
        "layer-adaptive prune (each layer its own widths) then distillation, each round a share of max_steps "
        "(the paper: rounds of ~5% of the parameters; 1: prune once, uniformly, then distill)"
    )
    adapt_amplitude: float = Field(
        0.02, ge=0, le=0.5, description="with prune_iterations > 1: how far a layer's sparsity moves per 2% step from "
        "its importance (Adapt-Pruner's amplitude A; 0: every layer pruned alike)"
    )
    correct_teacher_steps: int = Field(
        0, ge=0, description="teacher correction (arXiv 2408.11796): first fine-tune the teacher for this many steps "
        "(next-token loss, on the distillation shards; the run's `teacher-correct` stage), then prune and distill from it"
    )
    correct_teacher_lr: float | None = Field(None, gt=0, description="peak learning rate of the teacher correction "
                                             "(default: [distill.optimizer].lr)")
    student_init: Literal["weights", "random"] = Field(
        "weights", description="random: the student's architecture with fresh weights (the from-scratch baseline)"
    )
    temperature: float = Field(1.0, gt=0, description="softmax temperature of both teacher and student in the KL term")
    kl_ratio: float = Field(1.0, ge=0, le=1, description="r in (1 - r) * next-token CE + r * T^2 * KL (0: next-token loss only; KL is still reported)")
    top_k: int | None = Field(None, gt=0, description="keep only the teacher's top-k logits per token (None: the full vocabulary)")
