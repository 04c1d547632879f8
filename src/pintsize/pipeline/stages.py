"""The stages of a run, in order: what each reads, what decides it, and the function that runs it.

Stage functions are imported when a stage runs, so planning a run needs none of the heavy
libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pintsize.errors import PintsizeError
from pintsize.pipeline import adapt_stages
from pintsize.pipeline.layout import (
    corrects_teacher,
    curate_config,
    final_model,
    final_stage,
    prunes_iteratively,
    prunes_once,
    quality_model_input,
    quality_model_used,
    stage_dir,
    start_model,
    student_dir,
    teacher_dir,
    teacher_source,
)
from pintsize.recipe import Recipe


@dataclass(frozen=True)
class Stage:
    name: str
    enabled: Callable[[Recipe], bool]
    config: Callable[[Recipe], Any]  # everything in the recipe that decides this stage's output
    inputs: Callable[[Recipe], dict[str, Path]]  # artifacts (or files) it reads
    execute: Callable[[Recipe, Path], Any]  # writes the stage's artifact at the given path


def _corpus(recipe: Recipe) -> Path:
    path = stage_dir(recipe, "curate")
    if not recipe.data.sources and not path.exists():
        raise PintsizeError(f"the recipe has no [data] sources and there is no curated corpus at {path}")
    return path


def _curate_inputs(recipe: Recipe) -> dict[str, Path]:
    return quality_model_input(curate_config(recipe))  # the run's own `quality` stage, or the named model


def _quality(recipe: Recipe, out: Path) -> None:
    from pintsize.pipeline.quality_stage import train_quality_stage

    train_quality_stage(recipe.quality_model, out)


def _curate(recipe: Recipe, out: Path) -> None:
    from pintsize.curate.commands import print_summary
    from pintsize.curate.pipeline import run_curate

    data = curate_config(recipe)
    if used := quality_model_used(recipe, data):
        print(f"quality model: {used}")
    run_curate(data, out)
    print_summary(out)  # what `pintsize curate` shows: the funnel, and sources that kept almost nothing


def _tokenizer(recipe: Recipe, out: Path) -> None:
    from pintsize.tokenizer import build_tokenizer

    if recipe.tokenizer.kind == "extend":
        return adapt_stages.extend_base_tokenizer(recipe, _corpus(recipe), out)
    build_tokenizer(recipe.tokenizer, _corpus(recipe) if recipe.tokenizer.kind == "train" else None, out)


def _pack(recipe: Recipe, out: Path) -> None:
    from pintsize.data.pack import pack_corpus

    pack_corpus(_corpus(recipe), stage_dir(recipe, "tokenizer"), out, recipe.pack)


def _pretrain(recipe: Recipe, out: Path) -> None:
    from pintsize.train.pretrain import run_pretrain

    run_pretrain(adapt_stages.with_adapted_start(recipe), stage_dir(recipe, "pack"), stage_dir(recipe, "tokenizer"), out)


def _posttrain_inputs(recipe: Recipe, section: str) -> dict[str, Path]:
    """The starting model and the data files (hashed, so an edited file reruns the stage)."""
    data = {f"data{i}": Path(p) for i, p in enumerate(getattr(recipe, section).data) if not p.startswith("builtin:")}
    return {"model": start_model(recipe, section), **data}


def _sft(recipe: Recipe, out: Path) -> None:
    from pintsize.train.posttrain_commands import print_summary
    from pintsize.train.sft import run_sft

    print_summary(run_sft(recipe, start_model(recipe, "sft"), out), "sft")


def _dpo(recipe: Recipe, out: Path) -> None:
    from pintsize.train.dpo import run_dpo
    from pintsize.train.posttrain_commands import print_summary

    print_summary(run_dpo(recipe, start_model(recipe, "dpo"), out), "dpo")


def _teacher(recipe: Recipe, out: Path) -> None:
    from pintsize.model.gguf_import import import_gguf_artifact

    import_gguf_artifact(recipe.distill.teacher, out)


def _teacher_correct(recipe: Recipe, out: Path) -> None:
    from pintsize.train.commands import print_summary
    from pintsize.train.teacher_correct import run_teacher_correction

    shards, tokenizer = stage_dir(recipe, "pack"), stage_dir(recipe, "tokenizer")
    print_summary(run_teacher_correction(recipe, shards, tokenizer, teacher_source(recipe), out))


def _teacher_correct_config(r: Recipe):
    from pintsize.train.teacher_correct import correction_config

    return correction_config(r.distill)


def _prune(recipe: Recipe, out: Path) -> None:
    from pintsize.model.prune import describe, prune_artifact

    d = recipe.distill
    before, after = prune_artifact(teacher_dir(recipe), out, d.prune, stage_dir(recipe, "pack"), d.calib_tokens, d.seq_len,
                                   depth_score=d.depth_score)
    print(f"pruned {describe(before.config)} -> {describe(after.config)}")


def distill_recipe(recipe: Recipe, shards: Path, tokenizer: Path, out: Path, teacher: Path | None = None,
                   student: Path | None = None, device: str | None = None) -> Path:
    """The distill stage (and `pintsize distill`): the rounds of an iterative prune, else one distillation."""
    from pintsize.train.distill import run_distill
    from pintsize.train.iterative_distill import run_iterative_distill

    teacher = teacher or teacher_dir(recipe)
    if student is None and prunes_iteratively(recipe):
        return run_iterative_distill(recipe, shards, tokenizer, teacher, out, device)
    return run_distill(recipe, shards, tokenizer, teacher, student or student_dir(recipe), out, device=device)


def _distill(recipe: Recipe, out: Path) -> None:
    from pintsize.train.commands import print_summary

    print_summary(distill_recipe(recipe, stage_dir(recipe, "pack"), stage_dir(recipe, "tokenizer"), out))


def _inputs_distill(r: Recipe) -> dict[str, Path]:
    inputs = {"shards": stage_dir(r, "pack"), "tokenizer": stage_dir(r, "tokenizer"), "teacher": teacher_dir(r)}
    student = student_dir(r)
    return inputs | ({"student": student} if student else {})


def _distills(r: Recipe) -> bool:
    return r.distill is not None


def _eval(recipe: Recipe, out: Path) -> None:
    from pintsize.eval.run import run_eval

    config = recipe.eval
    if config.samples_chat is None:  # a model that was never chat-tuned here continues its prompts as text
        config = config.model_copy(update={"samples_chat": bool(recipe.sft or recipe.dpo)})
    run_eval(config, final_model(recipe), out, shards=stage_dir(recipe, "pack"))


def _export(recipe: Recipe, out: Path) -> None:
    import torch

    from pintsize.artifacts import ArtifactWriter
    from pintsize.model.hf import export_hf

    model = final_model(recipe)
    with ArtifactWriter(out, "export", recipe.export, inputs={"model": final_stage(recipe)}) as art:
        if recipe.export.hf:
            export_hf(model, art.dir / "hf", dtype=getattr(torch, recipe.export.dtype))
            art.stats["hf"] = "hf"
        if recipe.export.gguf:
            from pintsize.model.gguf import export_gguf

            export_gguf(model, art.dir / "model.gguf", dtype=recipe.export.dtype)
            art.stats["gguf"] = "model.gguf"


def _tokenizer_inputs(r: Recipe) -> dict[str, Path]:
    if r.tokenizer.kind == "extend":
        return {"corpus": _corpus(r), "base": adapt_stages.base_model(r)}
    if r.tokenizer.kind == "path":  # its content is an input: a re-imported teacher brings a new tokenizer
        from pintsize.tokenizer.load import tokenizer_dir

        return {"tokenizer": tokenizer_dir(r.tokenizer.path)}
    return {"corpus": _corpus(r)} if r.tokenizer.kind == "train" else {}


def _inputs_pretrain(r: Recipe) -> dict[str, Path]:
    r = adapt_stages.with_adapted_start(r)
    inputs = {"shards": stage_dir(r, "pack"), "tokenizer": stage_dir(r, "tokenizer")}
    if r.pretrain.init_from:
        inputs["init_from"] = Path(r.pretrain.init_from)
    return inputs


STAGES: tuple[Stage, ...] = (
    Stage(
        "quality",
        lambda r: r.quality_model is not None,
        lambda r: r.quality_model,
        lambda r: {f"labels{i}": Path(p) for i, p in enumerate(r.quality_model.labels)},
        _quality,
    ),
    Stage("base", adapt_stages.imports_base, lambda r: r.adapt.base, adapt_stages.base_inputs, adapt_stages.import_base),
    Stage("curate", lambda r: bool(r.data.sources), curate_config, _curate_inputs, _curate),
    # Before the tokenizer: a distilled run tokenizes with the imported teacher's tokenizer.
    Stage(
        "teacher",
        lambda r: _distills(r) and teacher_source(r) == stage_dir(r, "teacher"),
        lambda r: {"teacher": r.distill.teacher},
        lambda r: {},
        _teacher,
    ),
    Stage(
        "tokenizer",
        lambda r: True,
        lambda r: r.tokenizer,
        _tokenizer_inputs,
        _tokenizer,
    ),
    Stage("transfer", lambda r: r.adapt is not None, adapt_stages.transfer_config, adapt_stages.transfer_inputs, adapt_stages.transfer),
    Stage(
        "pack",
        lambda r: True,
        lambda r: r.pack,
        lambda r: {"corpus": _corpus(r), "tokenizer": stage_dir(r, "tokenizer")},
        _pack,
    ),
    Stage(
        "teacher-correct",
        corrects_teacher,
        _teacher_correct_config,
        lambda r: {"teacher": teacher_source(r), "shards": stage_dir(r, "pack"), "tokenizer": stage_dir(r, "tokenizer")},
        _teacher_correct,
    ),
    Stage(
        "prune",
        lambda r: _distills(r) and prunes_once(r),
        lambda r: {"prune": r.distill.prune, "calib_tokens": r.distill.calib_tokens, "seq_len": r.distill.seq_len,
                   "depth_score": r.distill.depth_score},
        lambda r: {"teacher": teacher_dir(r), "shards": stage_dir(r, "pack")},
        _prune,
    ),
    Stage("pretrain", lambda r: not _distills(r), lambda r: {"model": r.model, "pretrain": r.pretrain}, _inputs_pretrain, _pretrain),
    Stage("distill", _distills, lambda r: {"model": r.model, "distill": r.distill}, _inputs_distill, _distill),
    Stage("sft", lambda r: r.sft is not None, lambda r: r.sft, lambda r: _posttrain_inputs(r, "sft"), _sft),
    Stage("dpo", lambda r: r.dpo is not None, lambda r: r.dpo, lambda r: _posttrain_inputs(r, "dpo"), _dpo),
    Stage("eval", lambda r: True, lambda r: r.eval, lambda r: {"model": final_stage(r), "shards": stage_dir(r, "pack")}, _eval),
    Stage("adapt_eval", lambda r: r.adapt is not None, lambda r: r.adapt, adapt_stages.adapt_eval_inputs, adapt_stages.adapt_eval),
    Stage("export", lambda r: r.export.hf or r.export.gguf, lambda r: r.export, lambda r: {"model": final_stage(r)}, _export),
)
