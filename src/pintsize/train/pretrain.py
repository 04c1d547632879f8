"""`pintsize pretrain`: next-token prediction on packed shards, from scratch or from a model
(context extension: the weights of the 2K model, the block size and RoPE base of the recipe)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from pintsize.errors import CheckpointError, DataError, RecipeError
from pintsize.model.checkpoint import WEIGHTS_FILE, load_config, resolve_model_dir
from pintsize.model.config import ModelConfig
from pintsize.recipe import Recipe
from pintsize.train.objective import LMObjective
from pintsize.train.stage import TrainingStage, fingerprinted, run_training_stage

# What context extension may change; everything else must match the model it starts from.
EXTENSION_FIELDS = {"name", "block_size", "rope_base", "rope_scaling"}


def vocab_size(tokenizer: Path, shards: Path) -> int:
    """The tokenizer's vocabulary (added tokens included), checked against the one the shards were packed with."""
    from pintsize.data.shards import read_meta
    from pintsize.tokenizer.load import TokenizerInfo

    vocab = TokenizerInfo.read(tokenizer).vocab_size
    packed = read_meta(shards).get("vocab_size")
    if packed != vocab:
        raise DataError(f"{shards}: packed with a vocabulary of {packed} tokens, but the tokenizer {tokenizer} has {vocab}")
    return vocab


def resolve_model(recipe: Recipe, vocab: int) -> tuple[ModelConfig, dict[str, torch.Tensor] | None, Path | None]:
    """The model config to train and, with init_from, the weights to start from. A recipe that
    continues a model without a [model] section trains that model as it is."""
    as_is = recipe.pretrain.init_from is not None and "model" not in recipe.model_fields_set
    if as_is:
        src = resolve_model_dir(recipe.pretrain.init_from, "[pretrain].init_from")
        config = load_config(src)
        if config.vocab_size != vocab:
            raise RecipeError(
                f"{src}: the model has {config.vocab_size:,} token embeddings but the run's tokenizer has {vocab:,} "
                "tokens; give the model this tokenizer first (pintsize tokenizer transfer, or an [adapt] run)"
            )
    else:
        config = recipe.model.resolve(vocab_size=vocab)
    if recipe.pretrain.seq_len > config.block_size:
        raise RecipeError(
            f"[pretrain].seq_len ({recipe.pretrain.seq_len}) is longer than the model's block_size ({config.block_size})"
        )
    if recipe.pretrain.init_from is None:
        return config, None, None
    src = resolve_model_dir(recipe.pretrain.init_from, "[pretrain].init_from")
    base = load_config(src)
    differ = [
        f"{k} ({getattr(base, k)} -> {getattr(config, k)})"
        for k in ModelConfig.model_fields
        if k not in EXTENSION_FIELDS and getattr(base, k) != getattr(config, k)
    ]
    if differ:
        raise RecipeError(
            f"[model] differs from the init_from model {src} in {', '.join(differ)}; "
            f"only {', '.join(sorted(EXTENSION_FIELDS - {'name'}))} may change when continuing a model"
        )
    weights = src / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{src}: [pretrain].init_from has no {WEIGHTS_FILE}")
    return config, load_file(str(weights)), src


def run_pretrain(recipe: Recipe, shards: Path, tokenizer: Path, out: Path, device: str | None = None) -> Path:
    """Train on `shards` (a pack artifact) and write a training-stage artifact at `out`."""
    from pintsize.data.loader import TokenLoader, eval_batches
    from pintsize.data.shards import read_meta

    cfg = recipe.pretrain
    shards, tokenizer = Path(shards), Path(tokenizer)
    model_config, init_state, init_dir = resolve_model(recipe, vocab_size(tokenizer, shards))

    def train_data(env):
        return TokenLoader(
            shards, "train", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, cfg.seed, cfg.source_weights or None
        )

    def val_data(env):
        if read_meta(shards)["splits"].get("val", {}).get("documents", 0) == 0:
            return None
        return lambda: eval_batches(
            shards, "val", cfg.seq_len, cfg.micro_batch_size, env.rank, env.world_size, max_tokens=cfg.val_tokens
        )

    inputs = {"shards": shards, "tokenizer": tokenizer} | ({"init": init_dir} if init_dir else {})
    stage = TrainingStage(
        stage="pretrain",
        config=cfg,
        model_config=model_config,
        objective=LMObjective(compile=cfg.compile),
        train_data=train_data,
        val_data=val_data,
        out=Path(out),
        inputs=inputs,
        artifact_config={"model": model_config.model_dump(mode="json"), "pretrain": fingerprinted(cfg)},
        init_state=init_state,
        init_source=str(init_dir / WEIGHTS_FILE) if init_dir else "",
        tokenizer_dir=tokenizer,
    )
    return run_training_stage(stage, device)
