"""Teacher correction ("LLM Pruning and Distillation in Practice: The Minitron Approach", arXiv
2408.11796): when the teacher has not seen the distillation data's distribution, fine-tune it on
that data first, with the plain next-token loss, and prune and distill from the corrected teacher.

`[distill].correct_teacher_steps = N` (or `pintsize distill --correct-teacher-steps N`) makes the
`teacher-correct` stage: N optimizer steps on the distillation shards, on the pretraining engine
(same loader, checkpoints, exact resume, FSDP2 under torchrun), with the [distill] section's batch,
sequence length, precision, seed and optimizer (peak `correct_teacher_lr` when set). Its artifact
is an ordinary training-stage artifact; the prune and distill stages read the teacher from it.
Deviation from the paper: its correction runs ~100B tokens on an 8B/12B teacher; here N is
whatever the recipe affords, counted apart from the student's budget.
"""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from pintsize.errors import RecipeError
from pintsize.model.checkpoint import WEIGHTS_FILE, load_config, resolve_model_dir
from pintsize.model.config import ModelConfig
from pintsize.recipe import Recipe
from pintsize.train.config import TrainConfig
from pintsize.train.distill_config import DistillConfig
from pintsize.train.objective import LMObjective
from pintsize.train.pretrain import vocab_size
from pintsize.train.stage import TrainingStage, fingerprinted, run_training_stage

STAGE = "teacher-correct"


def correction_config(cfg: DistillConfig) -> TrainConfig:
    """The correction's training config: [distill]'s settings, `correct_teacher_steps` steps, the
    peak `correct_teacher_lr` (min_lr scaled with it), warm-up at most a tenth of the steps."""
    steps = cfg.correct_teacher_steps
    if not steps:
        raise RecipeError("[distill].correct_teacher_steps is 0: there is no teacher correction to run")
    opt = cfg.optimizer
    lr = cfg.correct_teacher_lr or opt.lr
    optimizer = opt.model_copy(update={
        "lr": lr, "min_lr": opt.min_lr * lr / opt.lr, "warmup_steps": min(opt.warmup_steps, max(1, steps // 10)),
    })
    fields = {k: getattr(cfg, k) for k in TrainConfig.model_fields}
    return TrainConfig.model_validate(fields | {
        "max_steps": steps, "max_tokens": None, "optimizer": optimizer, "init_from": None, "freeze_until_step": 0,
    })


def run_teacher_correction(recipe: Recipe, shards: Path, tokenizer: Path, teacher: Path, out: Path,
                           device: str | None = None) -> Path:
    """Fine-tune `teacher` on `shards` (next-token loss) and write a training-stage artifact at `out`."""
    from pintsize.data.loader import TokenLoader, eval_batches
    from pintsize.data.shards import read_meta
    from pintsize.train.distill import check_same_tokenizer

    if recipe.distill is None:
        raise RecipeError("the recipe has no [distill] section")
    cfg = correction_config(recipe.distill)
    shards, tokenizer = Path(shards), Path(tokenizer)
    teacher = resolve_model_dir(teacher, "[distill].teacher")
    config = load_config(teacher)
    if config.vocab_size != vocab_size(tokenizer, shards):
        raise RecipeError(f"[distill].teacher {teacher}: its vocabulary ({config.vocab_size}) differs from the run's "
                          f"tokenizer {tokenizer}; teacher correction trains on the run's shards")
    check_same_tokenizer(teacher, tokenizer)
    if cfg.seq_len > config.block_size:
        raise RecipeError(f"[distill].seq_len ({cfg.seq_len}) is longer than the teacher's context ({config.block_size})")

    def train_data(env):
        return TokenLoader(shards, "train", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, cfg.seed)

    def val_data(env):
        if read_meta(shards)["splits"].get("val", {}).get("documents", 0) == 0:
            return None
        return lambda: eval_batches(shards, "val", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size,
                                    max_tokens=cfg.val_tokens)

    stage = TrainingStage(
        stage=STAGE,
        config=cfg,
        model_config=config,
        objective=LMObjective(compile=cfg.compile),
        train_data=train_data,
        val_data=val_data,
        out=Path(out),
        inputs=_inputs(shards, tokenizer, teacher),
        artifact_config=_artifact_config(config, cfg),
        init_state=load_file(str(teacher / WEIGHTS_FILE)),
        init_source=str(teacher / WEIGHTS_FILE),
        tokenizer_dir=tokenizer,
        stats={"teacher": str(teacher)},
    )
    return run_training_stage(stage, device)


def _inputs(shards: Path, tokenizer: Path, teacher: Path) -> dict[str, Path]:
    return {"shards": Path(shards), "tokenizer": Path(tokenizer), "teacher": Path(teacher)}


def _artifact_config(config: ModelConfig, cfg: TrainConfig) -> dict:
    return {"model": config.model_dump(mode="json"), STAGE: fingerprinted(cfg)}


def corrected_teacher(recipe: Recipe, shards: Path, tokenizer: Path, teacher: Path, out: Path,
                      device: str | None = None) -> Path:
    """`out` holding `teacher` corrected on `shards`: reused when it was made from the same teacher,
    shards, tokenizer and settings, else trained (or resumed). What `pintsize distill` does before
    distilling when the recipe (or --correct-teacher-steps) asks for a correction."""
    from pintsize.artifacts import is_up_to_date

    source = resolve_model_dir(teacher, "[distill].teacher")
    expected = _artifact_config(load_config(source), correction_config(recipe.distill))
    if is_up_to_date(out, STAGE, expected, _inputs(shards, tokenizer, source)):
        print(f"teacher correction: reusing {out} (same teacher, shards and settings)")
        return Path(out)
    return run_teacher_correction(recipe, shards, tokenizer, source, out, device)
