"""CLI: `pintsize sft` and `pintsize dpo` (run them under `torchrun --nproc_per_node N` for several devices)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pintsize.errors import PintsizeError
from pintsize.train.commands import DEVICE_OPT, FORCE_OPT, already_finished

console = Console(stderr=True)

RECIPE_ARG = typer.Argument(..., help="a recipe TOML file (its \\[sft] or \\[dpo] section is used)")
OUT_OPT = typer.Option(None, "--out", help="output directory (default: the run's sft/ or dpo/)")


def summary_table(artifact: Path, title: str) -> Table:
    """What became of the input records, and how training ended."""
    report = json.loads((artifact / "data" / "report.json").read_text())
    stats = json.loads((artifact / "manifest.json").read_text())["stats"]
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("records", "kept", "skipped", "quarantined", "truncated"):
        table.add_row(key, f"{report[key]:,}")
    for group in ("skipped_by_reason", "quarantined_by_reason"):
        for reason, n in report[group].items():
            table.add_row(f"  {group.split('_')[0]}: {reason}", f"{n:,}")
    for key in ("steps", "final_loss", "final_val_loss"):
        value = stats.get(key)
        table.add_row(key, "-" if value is None else f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
    return table


def _run(section: str, recipe_file: Path, model: Path | None, out: Path | None, device: str | None, force: bool = False) -> None:
    from pintsize.recipe import load_recipe

    recipe = load_recipe(recipe_file)
    if getattr(recipe, section) is None:
        raise PintsizeError(f"{recipe_file}: the recipe has no [{section}] section")
    from pintsize.pipeline.layout import start_model

    model = model or start_model(recipe, section)  # checked (and named in the error) by the stage
    out = out or recipe.stage_dir(section)
    if already_finished(out, section, force):
        return
    if section == "sft":
        from pintsize.train.sft import run_sft as run
    else:
        from pintsize.train.dpo import run_dpo as run
    print_summary(run(recipe, model, out, device=device), section)


def print_summary(artifact: Path, section: str) -> None:
    """What became of the data records, and how training ended (once, on rank 0)."""
    if os.environ.get("RANK", "0") == "0":
        console.print(summary_table(artifact, f"{section}: {artifact}"))


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("sft")
    def sft_cmd(
        recipe_file: Path = RECIPE_ARG,
        model: Path = typer.Option(
            None,
            "--model",
            help="model dir or pretrain artifact to start from (default: \\[sft].init_from, else the run's pretrain/)",
        ),
        out: Path = OUT_OPT,
        device: str = DEVICE_OPT,
        force: bool = FORCE_OPT,
    ) -> None:
        """Instruction-tune a model on chat data, with the loss on the assistant's tokens only.

        Data: \\[sft].data lists JSONL/Parquet files or folders (messages, ShareGPT or Alpaca) or
        builtin:docs-chat. Rerun the same command to resume after a crash. Several devices:
        torchrun --nproc_per_node N -m pintsize sft RECIPE (FSDP2)."""
        _run("sft", recipe_file, model, out, device, force)

    @app.command("dpo")
    def dpo_cmd(
        recipe_file: Path = RECIPE_ARG,
        model: Path = typer.Option(
            None,
            "--model",
            help="model dir or training artifact to align (default: \\[dpo].init_from, else the run's sft/ or pretrain/)",
        ),
        out: Path = OUT_OPT,
        device: str = DEVICE_OPT,
        force: bool = FORCE_OPT,
    ) -> None:
        """Align a model on preference pairs with DPO (sigmoid loss, beta from the recipe).

        Data: \\[dpo].data lists JSONL/Parquet files or folders with prompt/chosen/rejected (strings
        or messages) or builtin:docs-preferences. Rerun the same command to resume after a crash.
        Several devices: torchrun --nproc_per_node N -m pintsize dpo RECIPE (FSDP2)."""
        _run("dpo", recipe_file, model, out, device, force)
