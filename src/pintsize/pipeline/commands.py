"""CLI: run (the whole pipeline), report, ablate."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("run")
    def run_cmd(
        recipe: Path = typer.Argument(..., help="a recipe TOML file"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the plan (what runs, what is skipped, why) and stop"),
        force: list[str] = typer.Option([], "--force", help="rerun this stage even if unchanged (repeatable)"),
    ) -> None:
        """Run every stage of RECIPE in order, skipping stages whose inputs and config are unchanged."""
        from pintsize.pipeline.run import run
        from pintsize.recipe import load_recipe

        run(load_recipe(recipe), dry_run=dry_run, force=frozenset(force))

    @app.command("report")
    def report_cmd(
        run_dir: Path = typer.Argument(..., help="a run directory (runs/<name>)"),
        out: Path = typer.Option(None, help="output HTML file (default RUN_DIR/report.html)"),
    ) -> None:
        """Write one self-contained HTML page about a run: data, tokenizer, training, evaluation, lineage."""
        from pintsize.report.html import write_report

        typer.echo(f"wrote {write_report(run_dir, out)}")
