"""CLI: `pintsize tokenizer transfer|extend`: adapting a trained model to a new language or domain."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer
from rich.console import Console

from pintsize import cli_options

console = Console()


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    group = groups["tokenizer"]

    @group.command("transfer")
    def transfer_cmd(
        model: Path = typer.Argument(..., help="a model artifact (with its tokenizer/)"),
        new_tokenizer: Path = typer.Argument(..., help="the tokenizer to give it (a tokenizer or model artifact)"),
        out: Path = typer.Argument(..., help="output model artifact"),
        init: Literal["mean", "focus", "random"] = typer.Option("mean", "--init", help="mean (FVT) | focus (FOCUS) | random"),
        corpus: Path = typer.Option(None, "--corpus", help="target text for focus's static embeddings"),
        fallback: Literal["mean", "random"] = typer.Option(None, "--fallback", help="focus only: mean|random when the corpus is too small"),
        seed: int = cli_options.seed(0, "--seed", help="seed of the random rows"),
    ) -> None:
        """Give MODEL the tokenizer NEW_TOKENIZER: shared tokens keep their rows exactly, the others are initialised by --init."""
        from pintsize.tokenizer.transfer import TransferConfig, transfer_tokenizer

        if init != "focus" and (corpus is not None or fallback is not None):
            raise typer.BadParameter(f"only --init focus reads it (this is --init {init})",
                                     param_hint="'--corpus'" if corpus is not None else "'--fallback'")
        counts = transfer_tokenizer(model, new_tokenizer, out, TransferConfig(init=init, fallback=fallback, seed=seed), corpus)
        console.print(f"[green]wrote[/] {out}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

    @group.command("extend")
    def extend_cmd(
        tokenizer: Path = typer.Argument(..., help="a BPE tokenizer (tokenizer or model artifact)"),
        corpus: Path = typer.Argument(..., help="the new text: a corpus artifact, or Parquet/JSONL files with a 'text' column"),
        out: Path = typer.Argument(..., help="output tokenizer directory"),
        add: int = cli_options.count(..., "--add", max=cli_options.MAX_TOKEN_ID, help="how many tokens to learn and append"),
        max_docs_per_source: int = cli_options.count(None, help="learn from at most this many documents of each source"),
    ) -> None:
        """Append ADD BPE tokens learned on CORPUS to TOKENIZER; every old id and merge stays as it is."""
        from pintsize.tokenizer.extend import extend_tokenizer
        from pintsize.tokenizer.load import read_backend, tokenizer_dir

        read_backend(tokenizer_dir(tokenizer))  # a damaged tokenizer.json is named before the corpus is read
        stats = extend_tokenizer(tokenizer, corpus, out, add, max_docs_per_source)
        console.print(f"[green]wrote[/] {out}: {stats['added']:,} tokens added, {stats['vocab_size']:,} in all")
