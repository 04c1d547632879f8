"""CLI: `pintsize pretrain` (run it under `torchrun --nproc_per_node N` for several devices)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from pintsize import cli_options
from pintsize.errors import PintsizeError

console = Console(stderr=True)


def _stage_input(given: Path | None, default: Path, stage: str, option: str) -> Path:
    path = given or default
    if not path.exists():
        raise PintsizeError(f"{path}: no {stage} artifact here; run `pintsize {stage}` first or pass {option}")
    return path


FORCE_OPT = typer.Option(False, "--force", help="train again from step 0 even where a finished artifact exists")
SHARDS_OPT = typer.Option(None, "--shards", help="packed token shards (default: the run's pack/ artifact)")
TOKENIZER_OPT = typer.Option(None, "--tokenizer", help="tokenizer artifact (default: the run's tokenizer/)")
DEVICE_OPT = cli_options.device(None, "--device", help="cuda or cpu (default: cuda when available)")


def packed_inputs(recipe, shards: Path | None, tokenizer: Path | None) -> tuple[Path, Path]:
    """The shards and tokenizer a training command reads: the options, or the run's pack/ and tokenizer/."""
    from pintsize.pipeline.layout import stage_dir

    return (
        _stage_input(shards, stage_dir(recipe, "pack"), "pack", "--shards"),
        _stage_input(tokenizer, stage_dir(recipe, "tokenizer"), "tokenizer", "--tokenizer"),
    )


def already_finished(out: Path, stage: str, force: bool) -> bool:
    """A finished artifact at `out` is not trained again (days at full size) unless --force says
    so: what `pintsize run` does with an unchanged stage. Says so, and how to redo it."""
    from pintsize.artifacts import MANIFEST, inputs_unchanged

    if force or not (out / MANIFEST).is_file():
        return False
    changed = "" if inputs_unchanged(out) else " (its recorded inputs have changed since)"
    console.print(
        f"{out} is a finished {stage} artifact{changed}: nothing to do. "
        f"`pintsize {stage} ... --force` trains it again from step 0; --out trains elsewhere.",
        highlight=False,
    )
    return True


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("pretrain")
    def pretrain_cmd(
        recipe_file: Path = typer.Argument(..., help="a recipe TOML file (its model and pretrain sections are used)"),
        shards: Path = SHARDS_OPT,
        tokenizer: Path = TOKENIZER_OPT,
        out: Path = typer.Option(None, "--out", help="output directory (default: the run's pretrain/)"),
        device: str = DEVICE_OPT,
        force: bool = FORCE_OPT,
    ) -> None:
        """Pretrain the model on packed shards; rerun the same command to resume after a crash.

        Several devices: torchrun --nproc_per_node N -m pintsize pretrain RECIPE (FSDP2)."""
        from pintsize.recipe import load_recipe
        from pintsize.train.pretrain import run_pretrain

        recipe = load_recipe(recipe_file)
        shards, tokenizer = packed_inputs(recipe, shards, tokenizer)
        out = out or recipe.stage_dir("pretrain")
        if already_finished(out, "pretrain", force):
            return
        print_summary(run_pretrain(recipe, shards, tokenizer, out, device=device))


def print_summary(artifact: Path) -> None:
    """The finished stage's figures, printed once (by rank 0 under torchrun)."""
    if os.environ.get("RANK", "0") != "0":
        return
    from rich.table import Table

    from pintsize.artifacts import read_manifest

    stats = read_manifest(artifact)["stats"]
    table = Table(title=f"trained: {artifact}", show_header=False)
    rows = [
        ("steps / skipped", f"{stats['steps']:,} / {stats['skipped_steps']}"),
        ("tokens", f"{stats['tokens']:,}"),
        ("final training loss", _fmt(stats["final_loss"])),
        ("final validation loss", _fmt(stats["final_val_loss"])),
        ("tokens/s (this session, all devices)", _fmt(stats["tokens_per_s"], "{:,.0f}")),
        ("model", str(artifact / "model")),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


def _fmt(value, spec: str = "{:.4f}") -> str:
    return "-" if value is None else spec.format(value)
