"""Adapt-Pruner's iterative prune-and-distill (arXiv 2502.03460; [distill].prune_iterations > 1):
instead of pruning the teacher to the target once and then distilling, reach the target in K
rounds. Round k prunes the current student layer-adaptively (`model.prune_adaptive`: each layer its
own head count and MLP width from its importance, in sparsity sub-steps of 2%) to the k-th of K
evenly spaced parameter counts between the teacher's and the target, its importance measured on
the student as it is now over the training shards; then distills it from the teacher for its share
of [distill].max_steps. The learning rate follows one schedule over all rounds (warm-up once, then
the decay), as the reference's WSD schedule continues across its stages. [distill].prune must be a
parameter count. The hidden size is not pruned (as in the reference), so the per-layer widths
shrink further than a one-shot prune's to the same count; the model keeps per-layer widths
(`ModelConfig.layers`), which GGUF writes as per-layer arrays (llama.cpp's "deci" architecture)
and the HF export pads with zeros to one width (exact).

Rounds are written next to the stage's artifact, OUT-rounds/<k>/{prune,distill}; a rerun reuses
finished rounds of the same recipe, and the last round's distillation is published at OUT.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from pintsize.artifacts import MANIFEST, atomic_write_json, hash_config, inputs_unchanged
from pintsize.errors import RecipeError
from pintsize.model.checkpoint import load_config, resolve_model_dir
from pintsize.recipe import Recipe


def round_targets(teacher_params: int, target_params: int, rounds: int) -> list[int]:
    """The parameter count after each round: evenly spaced, the last exactly the target."""
    step = (teacher_params - target_params) / rounds
    return [round(teacher_params - step * k) for k in range(1, rounds)] + [target_params]


def round_steps(total: int, rounds: int) -> list[int]:
    """max_steps split over the rounds, the remainder to the first ones (every round trains)."""
    if total < rounds:
        raise RecipeError(f"[distill].max_steps ({total}) is fewer than prune_iterations ({rounds}): every round needs a step")
    return [total // rounds + (k < total % rounds) for k in range(rounds)]


def _target_params(target: str, teacher_dir: Path) -> int:
    from pintsize.model.prune import PARAMETER_COUNT

    m = PARAMETER_COUNT.match(target)
    if not m:
        raise RecipeError(f"[distill].prune = {target!r}: prune_iterations > 1 needs a parameter count (e.g. \"67M\"), "
                          "the budget the rounds step towards")
    want = int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()])
    have = load_config(teacher_dir).num_params()
    if want > have:
        raise RecipeError(f"[distill].prune = {target!r}: more parameters than the teacher has ({have:,})")
    return want


def _finished(directory: Path) -> bool:
    return (directory / MANIFEST).is_file() and inputs_unchanged(directory)


def run_iterative_distill(recipe: Recipe, shards: Path, tokenizer: Path, teacher: Path, out: Path,
                          device: str | None = None) -> Path:
    """Prune and distill in [distill].prune_iterations rounds (see the module docstring); returns OUT."""
    from pintsize.model.prune import describe
    from pintsize.model.prune_adaptive import adaptive_prune_artifact
    from pintsize.train.distill import run_distill

    cfg = recipe.distill
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RecipeError("[distill].prune_iterations > 1 runs in one process (the rounds' pruning is not distributed); "
                          "run it without torchrun, or prune once (prune_iterations = 1)")
    if not cfg.max_steps:
        raise RecipeError("[distill].prune_iterations > 1 needs [distill].max_steps (the steps are split over the rounds)")
    rounds = cfg.prune_iterations
    teacher = resolve_model_dir(teacher, "[distill].teacher")
    teacher_params = load_config(teacher).num_params()
    targets = round_targets(teacher_params, _target_params(cfg.prune, teacher), rounds)
    steps = round_steps(cfg.max_steps, rounds)

    work = out.with_name(out.name + "-rounds")
    recipe_hash = hash_config({"distill": cfg.model_dump(mode="json"), "model": recipe.model.model_dump(mode="json")})
    key = {"recipe": recipe_hash, "teacher": str(teacher), "shards": str(shards)}
    if work.exists() and _read_key(work) != key:
        shutil.rmtree(work)  # another recipe's rounds
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(work / "rounds.json", key | {"targets": targets, "steps": steps})

    current, done = teacher, 0
    for k, (params, n_steps) in enumerate(zip(targets, steps), start=1):
        pruned, distilled = work / str(k) / "prune", out if k == rounds else work / str(k) / "distill"
        print(f"round {k}/{rounds}: prune layer-adaptively to {params:,} parameters, then distill for {n_steps} steps")
        if not _finished(pruned):
            before, after = adaptive_prune_artifact(current, pruned, params, shards, cfg.calib_tokens, cfg.seq_len,
                                                    amplitude=cfg.adapt_amplitude)
            print(f"  pruned {describe(before.config)} -> {describe(after.config)}")
        if k == rounds or not _finished(distilled):
            round_cfg = cfg.model_copy(update={"max_steps": n_steps, "student_init": "weights"})
            run_distill(recipe.model_copy(update={"distill": round_cfg}), shards, tokenizer, teacher, pruned, distilled,
                        device, schedule=(done, cfg.max_steps))
        current, done = distilled, done + n_steps
    return out


def _read_key(work: Path) -> dict | None:
    try:
        meta = json.loads((work / "rounds.json").read_text())
    except (OSError, ValueError):
        return None
    return {k: meta.get(k) for k in ("recipe", "teacher", "shards")}
