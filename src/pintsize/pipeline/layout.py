"""Where a run's stages read and write, from the recipe alone: each stage's artifact directory, the
model each training stage starts from, the teacher and student of distillation, and the quality
model curation uses. `pipeline.stages` runs the stages; the stage commands (`pintsize curate`,
`sft`, `distill`, ...) find their inputs here, so imports run one way: commands and stages above,
this below."""

from __future__ import annotations

from pathlib import Path

from pintsize.errors import RecipeError
from pintsize.recipe import Recipe


def stage_dir(recipe: Recipe, name: str) -> Path:
    """A stage's artifact: the run's own, or another run's when [run].reuse names it."""
    reused = recipe.run.reuse.get(name)
    return Path(reused) if reused else recipe.stage_dir(name)


def base_stage(recipe: Recipe) -> str:
    """The stage that makes the base model: distillation replaces pretraining when the recipe has it."""
    return "distill" if recipe.distill else "pretrain"


def final_stage(recipe: Recipe) -> Path:
    """The training stage whose model the later stages use: DPO if there is one, else SFT, else
    pretraining (or distillation)."""
    return stage_dir(recipe, "dpo" if recipe.dpo else "sft" if recipe.sft else base_stage(recipe))


def final_model(recipe: Recipe) -> Path:
    return final_stage(recipe) / "model"


def curate_config(recipe: Recipe):
    """The [data] section, with the run's own quality model when [quality_model] trains one and
    [data.quality].model names none. A [data.quality] section with neither is an error: its cut
    would silently not happen."""
    data = recipe.data
    if recipe.quality_model is not None and data.quality.model is None:
        quality = data.quality.model_copy(update={"model": str(stage_dir(recipe, "quality"))})
        data = data.model_copy(update={"quality": quality})
    elif data.quality.model is None and "quality" in data.model_fields_set:
        raise RecipeError(
            "[data.quality] says how to cut but no model is named: set [data.quality].model "
            "(a quality model directory, e.g. from `pintsize quality train` or `pintsize quality label`), or add a "
            "[quality_model] section that trains one, or remove [data.quality] to curate without the quality step"
        )
    return data


def quality_model_input(data) -> dict[str, Path]:
    """The quality model that curating `data` reads, as a stage input: its files' content, not its
    name, so that a new `builtin:expository` (a pintsize upgrade) or a model directory retrained in
    place by `quality label` recurates."""
    from pintsize.curate.quality import resolve_model_path

    return {"quality": resolve_model_path(data.quality.model)} if data.quality.model else {}


def quality_model_used(recipe: Recipe, data) -> str | None:
    """Which quality model curation uses, in words, after checking that it is there; None without one."""
    model = data.quality.model
    if model is None:
        return None
    if recipe.quality_model is not None and recipe.data.quality.model is None:
        if not (Path(model) / "manifest.json").is_file():
            raise RecipeError(
                f"[data.quality] uses the model this run's `quality` stage trains ([quality_model]), and "
                f"{model} is not there yet: `pintsize run` trains it before curating, or name a model in [data.quality].model"
            )
        from pintsize.artifacts import read_manifest

        return f"{model} (this run's `quality` stage, trained {read_manifest(model).get('finished', '?')})"
    return f"{model} ([data.quality].model)"


def start_model(recipe: Recipe, section: str) -> Path:
    """Where SFT or DPO starts: [section].init_from, else the run's previous training stage."""
    init_from = getattr(recipe, section).init_from
    if init_from:
        return Path(init_from)
    return stage_dir(recipe, base_stage(recipe) if section == "sft" or recipe.sft is None else "sft")


def teacher_source(recipe: Recipe) -> Path:
    """[distill].teacher: the run's `teacher` stage when it names a GGUF to import, else the path itself."""
    from pintsize.train.distill_config import is_gguf

    teacher = recipe.distill.teacher
    return stage_dir(recipe, "teacher") if is_gguf(teacher) else Path(teacher)


def teacher_dir(recipe: Recipe) -> Path:
    """The teacher that prune and distill read: the `teacher-correct` stage's when the recipe corrects it."""
    return stage_dir(recipe, "teacher-correct") if corrects_teacher(recipe) else teacher_source(recipe)


def corrects_teacher(r: Recipe) -> bool:
    return r.distill is not None and r.distill.correct_teacher_steps > 0


def student_dir(recipe: Recipe) -> Path | None:
    """[distill].student, else the run's `prune` stage when [distill].prune is set (and pruned once),
    else None ([model], or the rounds of an iterative prune, which the distill stage makes itself)."""
    d = recipe.distill
    return Path(d.student) if d.student else stage_dir(recipe, "prune") if prunes_once(recipe) else None


def prunes(r: Recipe) -> bool:
    return not r.distill.student and r.distill.prune is not None


def prunes_once(r: Recipe) -> bool:
    return prunes(r) and r.distill.prune_iterations == 1


def prunes_iteratively(r: Recipe) -> bool:
    return prunes(r) and r.distill.prune_iterations > 1
