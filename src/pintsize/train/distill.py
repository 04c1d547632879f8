"""`pintsize distill`: a student learns from a frozen teacher on packed shards, on the pretraining
engine (same loader, checkpoints, exact resume, FSDP2, progress and metrics.jsonl); only the
objective differs (`DistillObjective`). Validation reports the student's loss, its KL to the
teacher (`val_kl`), its next-token loss (`val_ce`) and bits per byte (`val_bpb`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from pintsize.errors import PintsizeError, RecipeError
from pintsize.model.checkpoint import WEIGHTS_FILE, load_config, load_model, resolve_model_dir, tokenizer_path
from pintsize.model.config import ModelConfig
from pintsize.recipe import Recipe
from pintsize.train.distill_objective import DistillObjective, check_same_vocabulary
from pintsize.train.pretrain import vocab_size
from pintsize.train.stage import TrainingStage, fingerprinted, run_training_stage


@dataclass(frozen=True)
class Student:
    config: ModelConfig
    weights: Path | None  # None: random initialization from the run's seed
    source: Path | None  # the model dir it came from (recorded as an input)


def check_same_tokenizer(teacher_dir: Path, tokenizer: Path) -> None:
    """The teacher's own tokenizer (when it has one) maps every token as the run's tokenizer does."""
    from tokenizers import Tokenizer

    from pintsize.tokenizer.load import tokenizer_dir

    own = tokenizer_path(teacher_dir)
    if own is None or not (own / "tokenizer.json").is_file():
        return
    theirs = Tokenizer.from_file(str(own / "tokenizer.json")).get_vocab(with_added_tokens=True)
    ours = Tokenizer.from_file(str(tokenizer_dir(tokenizer) / "tokenizer.json")).get_vocab(with_added_tokens=True)
    differ = sum(theirs.get(t) != i for t, i in ours.items()) + len(theirs.keys() - ours.keys())
    if differ:
        raise PintsizeError(
            f"[distill].teacher {teacher_dir}: its tokenizer differs from the run's tokenizer {tokenizer} "
            f"({differ:,} tokens map to other ids); distillation needs the same tokenizer "
            f"([tokenizer] kind = \"path\", path = the teacher's directory)"
        )


def resolve_student(recipe: Recipe, student: Path | None, vocab: int) -> Student:
    cfg = recipe.distill
    if student is None:
        return Student(recipe.model.resolve(vocab_size=vocab), None, None)
    src = resolve_model_dir(student, "[distill].student")
    weights = src / WEIGHTS_FILE
    if cfg.student_init == "weights" and not weights.is_file():
        raise PintsizeError(f"{src}: the student has no {WEIGHTS_FILE} (student_init = \"random\" trains its architecture afresh)")
    return Student(load_config(src), weights if cfg.student_init == "weights" else None, src)


def run_distill(recipe: Recipe, shards: Path, tokenizer: Path, teacher: Path, student: Path | None, out: Path,
                device: str | None = None, schedule: tuple[int, int] | None = None) -> Path:
    """Distill `teacher` into the student (see DistillConfig) on `shards`; write a training-stage artifact at `out`.
    `schedule` = (steps before, total steps): this distillation is one part of a longer LR schedule."""
    from pintsize.data.loader import TokenLoader, eval_batches
    from pintsize.data.shards import read_meta
    from pintsize.train.token_bytes import token_byte_lengths

    cfg = recipe.distill
    if cfg is None:
        raise RecipeError("the recipe has no [distill] section")
    shards, tokenizer = Path(shards), Path(tokenizer)
    vocab = vocab_size(tokenizer, shards)
    teacher_dir = resolve_model_dir(teacher, "[distill].teacher")
    teacher_config = load_config(teacher_dir)
    if teacher_config.vocab_size != vocab:
        raise PintsizeError(
            f"[distill].teacher {teacher_dir}: the teacher's vocabulary ({teacher_config.vocab_size}) differs from "
            f"the run's tokenizer {tokenizer} ({vocab}); distillation needs the same tokenizer"
        )
    check_same_tokenizer(teacher_dir, tokenizer)
    st = resolve_student(recipe, student, vocab)
    check_same_vocabulary(teacher_config, st.config, f"[distill].teacher {teacher_dir}")
    for role, config in (("student", st.config), ("teacher", teacher_config)):
        if cfg.seq_len > config.block_size:
            raise RecipeError(f"[distill].seq_len ({cfg.seq_len}) is longer than the {role}'s context ({config.block_size})")

    objective = DistillObjective(
        load_model(teacher_dir), st.config, cfg.temperature, cfg.kl_ratio, cfg.top_k,
        token_bytes=token_byte_lengths(tokenizer, vocab),
    )

    def train_data(env):
        return TokenLoader(shards, "train", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, cfg.seed)

    def val_data(env):
        if read_meta(shards)["splits"].get("val", {}).get("documents", 0) == 0:
            return None
        return lambda: eval_batches(
            shards, "val", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, max_tokens=cfg.val_tokens
        )

    inputs = {"shards": shards, "tokenizer": tokenizer, "teacher": teacher_dir}
    if st.source is not None:
        inputs["student"] = st.source
    stage = TrainingStage(
        stage="distill",
        config=cfg,
        model_config=st.config,
        objective=objective,
        train_data=train_data,
        val_data=val_data,
        out=Path(out),
        inputs=inputs,
        artifact_config={"model": st.config.model_dump(mode="json"), "distill": fingerprinted(cfg)}
        | ({"schedule": list(schedule)} if schedule else {}),
        init_state=load_file(str(st.weights)) if st.weights else None,
        init_source=str(st.weights or ""),
        tokenizer_dir=tokenizer,
        stats={"teacher": str(teacher_dir), "teacher_params": teacher_config.num_params()},
        schedule=schedule,
    )
    torch.manual_seed(cfg.seed)
    return run_training_stage(stage, device)
