"""A training stage from start to artifact: the part pretrain, SFT and DPO have in common.

Rank 0 owns the artifact (`pintsize.artifacts.ArtifactWriter`): the run works in `<out>.partial/`,
which survives a crash tagged with the stage's fingerprint, so rerunning the same command
resumes from its newest checkpoint; on success the trained model is written to `model/` and the
directory is renamed to `<out>`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pintsize.artifacts import ArtifactWriter
from pintsize.model.checkpoint import STAGE_MODEL_DIR as MODEL_DIR  # noqa: F401 - re-exported for the stages
from pintsize.model.checkpoint import build_model, save_model
from pintsize.model.config import ModelConfig
from pintsize.model.info import flops_per_token
from pintsize.model.llama import Llama
from pintsize.train.config import TrainConfig
from pintsize.train.distributed import DistEnv, init_distributed
from pintsize.train.guard import TrainingDiverged
from pintsize.train.objective import Objective
from pintsize.train.trainer import Trainer, TrainData, total_steps


# How a run executes and reports rather than what it computes: rerunning with these changed (say,
# without torch.compile after a compiler crash, or with a higher spike threshold after the guard
# stopped it) resumes the interrupted run instead of starting afresh. The manifest records them
# under "execution".
EXECUTION_FIELDS = (
    "compile", "activation_checkpointing", "log_every", "ckpt_every", "keep_last", "val_every", "val_tokens",
    "spike_threshold", "max_bad_steps",
)


def fingerprinted(config: TrainConfig) -> dict:
    """The part of a training config that decides the trained model (for the artifact's fingerprint)."""
    return config.model_dump(mode="json", exclude=set(EXECUTION_FIELDS))


@dataclass
class TrainingStage:
    """Everything a stage decides; `run_training_stage` does the rest."""

    stage: str  # "pretrain", "sft", "dpo": the artifact's stage name and the recipe section
    config: TrainConfig
    model_config: ModelConfig
    objective: Objective
    train_data: Callable[[DistEnv], TrainData]  # this rank's share of the training data
    val_data: Callable[[DistEnv], Callable[[], Iterable[dict]] | None]  # a factory of finite passes, or None
    out: Path
    inputs: Mapping[str, Path]  # hashed into the fingerprint and recorded in the manifest
    artifact_config: dict  # everything that, changed, must start the run afresh (see `fingerprinted`)
    init_state: dict[str, torch.Tensor] | None = None  # weights to start from (context extension, fine-tuning)
    init_source: str = ""
    tokenizer_dir: Path | None = None  # copied into model/tokenizer
    stats: dict = field(default_factory=dict)  # the stage's own account (of its data), merged into the manifest's stats
    schedule: tuple[int, int] | None = None  # (steps before, total steps): one LR schedule over several stages


def build_initial_model(stage: TrainingStage, env: DistEnv) -> Llama:
    """The same weights on every rank: loaded, or initialized from the run's seed on the device."""
    if stage.init_state is not None:
        return build_model(stage.model_config, stage.init_state, stage.init_source, device=env.device)
    torch.manual_seed(stage.config.seed)
    with torch.device(env.device):
        return Llama(stage.model_config)


def run_training_stage(stage: TrainingStage, device: str | None = None) -> Path:
    """Train `stage` and write its artifact. Under torchrun the process group is joined (or reused,
    when an earlier stage of this process made it) and left standing for the next stage."""
    env = init_distributed(device)
    writer = ArtifactWriter(stage.out, stage.stage, stage.artifact_config, inputs=dict(stage.inputs))
    writer.extra["execution"] = {k: getattr(stage.config, k) for k in EXECUTION_FIELDS}
    with contextlib.ExitStack() as stack:
        if env.is_main:
            stack.enter_context(writer)
        env.barrier()  # the partial directory exists (and stale work is gone) before anyone writes
        trainer = Trainer(
            build_initial_model(stage, env),
            stage.objective,
            stage.config,
            env,
            writer.dir,
            stage.train_data(env),
            stage.val_data(env),
            total_steps=total_steps(stage.config, stage.stage),
            flops_per_token=flops_per_token(stage.model_config, stage.config.seq_len),
            section=stage.stage,
            schedule=stage.schedule,
        )
        trainer.fit()
        weights = trainer.full_model_state()
        check_finite(weights, trainer, env)
        if env.is_main:
            save_model(weights, stage.model_config, writer.dir / MODEL_DIR, tokenizer_dir=stage.tokenizer_dir)
            writer.stats.update(stage.stats)
            writer.stats.update(trainer.summary())
            writer.stats["params"] = stage.model_config.num_params()
    env.barrier()
    return stage.out


def check_finite(weights: dict[str, torch.Tensor], trainer: Trainer, env: DistEnv) -> None:
    """A model with NaN or infinite weights is never published as a finished artifact (rank 0
    holds the gathered weights; every rank learns the verdict)."""
    bad = next((name for name, t in weights.items() if not torch.isfinite(t).all()), None)
    if env.all_true(bad is None):
        return
    step = trainer.first_nonfinite_step
    first = f"the loss or gradient norm was first non-finite at step {step}" if step else "no step had a non-finite loss"
    raise TrainingDiverged(
        f"[{trainer.section}]: the trained weights are not finite (e.g. {bad or 'on rank 0'}); {first}. Nothing was "
        f"published. Check [{trainer.section}.optimizer] (lr, grad_clip): changing it starts the run afresh."
    )
