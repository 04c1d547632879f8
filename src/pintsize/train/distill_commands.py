"""CLI: `pintsize distill RECIPE` (run it under `torchrun --nproc_per_node N` for several devices)."""

from __future__ import annotations

from pathlib import Path

import typer

from pintsize import cli_options
from pintsize.train.commands import DEVICE_OPT, FORCE_OPT, SHARDS_OPT, TOKENIZER_OPT, already_finished, packed_inputs, print_summary


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("distill")
    def distill_cmd(
        recipe_file: Path = typer.Argument(..., help="a recipe TOML file (its distill section; its model section for a student from scratch)"),
        shards: Path = SHARDS_OPT,
        tokenizer: Path = TOKENIZER_OPT,
        teacher: Path = typer.Option(None, "--teacher", help="the teacher model (default: the recipe's distill.teacher, or the run's teacher/ import)"),
        student: Path = typer.Option(None, "--student", help="the student model (default: the recipe's distill.student, or the run's prune/, or the rounds of prune_iterations)"),
        correct_teacher_steps: int = cli_options.count(
            None, "--correct-teacher-steps", min=0,
            help="teacher correction: first fine-tune the teacher this many steps on the shards, into the run's "
            "teacher-correct/ (reused when unchanged); default: the recipe's distill.correct_teacher_steps"),
        out: Path = typer.Option(None, "--out", help="output directory (default: the run's distill/)"),
        device: str = DEVICE_OPT,
        force: bool = FORCE_OPT,
    ) -> None:
        """Distill a frozen teacher into a student on packed shards; rerun the same command to resume after a crash.

        Several devices: torchrun --nproc_per_node N -m pintsize distill RECIPE (FSDP2)."""
        from pintsize.errors import RecipeError
        from pintsize.pipeline.stages import distill_recipe
        from pintsize.recipe import load_recipe

        recipe = load_recipe(recipe_file)
        if recipe.distill is None:
            raise RecipeError(f"{recipe_file}: the recipe has no [distill] section")
        if correct_teacher_steps is not None:
            recipe = recipe.model_copy(update={"distill": recipe.distill.model_copy(update={"correct_teacher_steps": correct_teacher_steps})})
        shards, tokenizer = packed_inputs(recipe, shards, tokenizer)
        out = out or recipe.stage_dir("distill")
        if already_finished(out, "distill", force):
            return
        if recipe.distill.correct_teacher_steps:
            from pintsize.pipeline.layout import stage_dir, teacher_source
            from pintsize.train.teacher_correct import STAGE, corrected_teacher

            teacher = corrected_teacher(recipe, shards, tokenizer, teacher or teacher_source(recipe), stage_dir(recipe, STAGE), device)
        print_summary(distill_recipe(recipe, shards, tokenizer, out, teacher, student, device))
