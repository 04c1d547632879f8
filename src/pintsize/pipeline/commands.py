"""CLI: run (the whole pipeline), report, ablate."""

from __future__ import annotations

from pathlib import Path

import typer

from pintsize import cli_options
from pintsize.errors import Reported


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("run")
    def run_cmd(
        recipe: Path = typer.Argument(..., help="a recipe TOML file"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the plan (what runs, what is skipped, why) and stop"),
        force: list[str] = typer.Option([], "--force", help="rerun this stage even if unchanged (repeatable)"),
    ) -> None:
        """Run every stage of RECIPE in order, skipping stages whose inputs and config are unchanged."""
        from pintsize.pipeline.run import run
        from pintsize.pipeline.stages import STAGES
        from pintsize.pipeline.supervise import run_command, supervise, supervised
        from pintsize.recipe import load_recipe

        names = [s.name for s in STAGES]
        if unknown := [f for f in force if f not in names]:
            raise typer.BadParameter(f"no stage {', '.join(map(repr, unknown))}; the stages are {', '.join(names)}", param_hint="'--force'")
        loaded = load_recipe(recipe)  # a bad recipe is reported here, before any child starts
        if not dry_run and supervised():  # the stages run in a child, so that a stage killed outright is named
            code = supervise(run_command(recipe, force), loaded.out_dir)
            if code:
                raise Reported(code)
            return
        run(loaded, dry_run=dry_run, force=frozenset(force))

    @app.command("report")
    def report_cmd(
        run_dir: Path = typer.Argument(..., help="a run directory (runs/<name>)"),
        out: Path = typer.Option(None, help="output HTML file (default RUN_DIR/report.html)"),
    ) -> None:
        """Write one self-contained HTML page about a run: data, tokenizer, training, evaluation, lineage."""
        from pintsize.report.html import write_report

        typer.echo(f"wrote {write_report(run_dir, out)}")

    @app.command("ablate")
    def ablate_cmd(
        recipe: Path = typer.Argument(..., help="a recipe TOML file (its ablate section, or the defaults)"),
        out: Path = typer.Option(None, "--out", help="the ablation artifact (default runs/<name>/ablate; work in <out>-work)"),
        variants: str = typer.Option(
            None,
            "--variants",
            help="comma-separated: curated, uncurated, no_normalize, no_language, no_heuristics, no_dedup, no_pii, "
            "no_quality, no_mixture (default: the recipe's ablate.variants)",
        ),
        seeds: str = typer.Option(None, "--seeds", help="comma-separated training seeds (default: the recipe's ablate.seeds, else 1,2)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print what would run and what is already done, and stop"),
    ) -> None:
        """Train the same model on the same token budget on curated and less curated versions of the
        recipe's data (two seeds each) and compare them on held-out expository text and a cloze task."""
        from pintsize.errors import RecipeError
        from pintsize.pipeline.ablate.run import run_ablation
        from pintsize.recipe import load_recipe

        def split(value: str | None) -> list[str] | None:
            return [x.strip() for x in value.split(",") if x.strip()] if value else None

        try:
            seed_list = [int(s) for s in split(seeds)] if seeds else None
        except ValueError:
            seed_list = None
        if seeds and (not seed_list or not all(0 <= s <= cli_options.MAX_SEED for s in seed_list)):
            raise RecipeError(f"--seeds: expected comma-separated whole numbers from 0 to {cli_options.MAX_SEED}, got {seeds!r}")
        run_ablation(load_recipe(recipe), out=out, variants=split(variants), seeds=seed_list, dry_run=dry_run)
