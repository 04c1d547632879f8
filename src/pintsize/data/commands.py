"""CLI: `pintsize pack`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pintsize import cli_options

console = Console()


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("pack")
    def pack_cmd(
        corpus: Path = typer.Argument(..., help="a corpus artifact, or Parquet/JSONL files or folders with 'text' (and 'source')"),
        out: Path = typer.Argument(..., help="output shards directory"),
        tokenizer: Path = typer.Option(..., "--tokenizer", help="a tokenizer artifact (or a model artifact with tokenizer/)"),
        val_fraction: float = cli_options.real(None, at_least=0, below=1, help="share of documents held out for validation (default 0.01)"),
        seed: int = cli_options.seed(None, help="seed of the global shuffle (default 1234)"),
        shard_tokens: int = cli_options.count(None, help="tokens per shard file (default 100,000,000)"),
        workers: int = cli_options.count(None, max=cli_options.MAX_WORKERS, help="tokenizer threads (default: all cores)"),
    ) -> None:
        """Tokenize a corpus into shuffled token shards for pretraining.

        Each document is BOS + text + EOS, with no padding; documents are shuffled globally with
        the seed and split by document into train and val. Rerun after a crash to resume: the
        result is byte-identical."""
        from pintsize.data.config import PackConfig
        from pintsize.data.pack import pack_corpus
        from pintsize.data.shards import read_meta

        overrides = {"val_fraction": val_fraction, "seed": seed, "shard_tokens": shard_tokens}
        config = PackConfig(**{k: v for k, v in overrides.items() if v is not None})
        pack_corpus(corpus, tokenizer, out, config, workers)
        meta = read_meta(out)
        table = Table(title=f"{out} ({meta['dtype']}, vocab {meta['vocab_size']:,})")
        for col in ("split", "source", "documents", "tokens"):
            table.add_column(col, justify="right" if col in ("documents", "tokens") else "left")
        for split, s in meta["splits"].items():
            for source, c in s["sources"].items():
                table.add_row(split, source, f"{c['documents']:,}", f"{c['tokens']:,}")
            table.add_row(split, "[bold]all[/]", f"{s['documents']:,}", f"{s['tokens']:,}")
        console.print(table)
        i = meta["input"]
        console.print(
            f"input records {i['records']:,} = kept {i['kept']:,} + empty {i['empty']:,} + quarantined {i['quarantined']:,}"
            f"; invalid UTF-8 replaced in {i['utf8_replaced']:,}"
        )
