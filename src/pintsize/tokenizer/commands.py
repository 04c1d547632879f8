"""CLI: `pintsize tokenizer pints|train|compare|infer-mixture`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pintsize import cli_options

console = Console()


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    group = groups["tokenizer"]

    @group.command("pints")
    def pints_cmd(out: Path = typer.Argument(..., help="output tokenizer directory")) -> None:
        """Build the exact 1.5-Pints tokenizer (32,064 tokens) in Hugging Face format.

        Mistral v0.1's SentencePiece model (shipped in mistral-common) plus 64 chat tokens; EOS is
        <|im_end|>, PAD <|pad|>, BOS is added, and the chat template is ChatML."""
        from pintsize.tokenizer import build_pints_tokenizer

        build_pints_tokenizer(out)
        _report(out)

    @group.command("train")
    def train_cmd(
        corpus: Path = typer.Argument(..., help="a corpus artifact, or Parquet/JSONL files or folders with a 'text' column"),
        out: Path = typer.Argument(..., help="output tokenizer directory"),
        vocab: int = cli_options.count(8192, "--vocab", max=cli_options.MAX_TOKEN_ID,
                                       help="vocabulary size, rounded up to a multiple of 64 (at least 384)"),
        max_docs_per_source: int = cli_options.count(None, help="train on at most this many documents of each source"),
    ) -> None:
        """Train a byte-level BPE on CORPUS with the same special and chat tokens as the Pints tokenizer."""
        from pintsize.tokenizer.train import train_tokenizer

        train_tokenizer(corpus, out, vocab, max_docs_per_source)
        _report(out)

    @group.command("compare")
    def compare_cmd(
        tokenizers: list[Path] = typer.Argument(..., help="tokenizer directories (tokenizer or model artifacts)"),
        corpus: Path = typer.Option(..., "--corpus", help="the corpus to measure on"),
        out: Path = typer.Option(Path("tokenizer-compare"), "--out", help="where compare.json and compare.png go"),
        max_docs_per_source: int = cli_options.count(200, help="documents read from each source"),
    ) -> None:
        """Per source: characters/token, bytes/token, tokens/word and byte-fallback rate of each tokenizer."""
        from pintsize.tokenizer.compare import METRICS, compare_tokenizers, write_comparison

        from pintsize.tokenizer.load import tokenizer_dir

        if len(set(map(str, tokenizers))) < len(tokenizers):
            raise typer.BadParameter(f"a tokenizer is given twice: {', '.join(map(str, tokenizers))}", param_hint="TOKENIZERS")
        for t in tokenizers:
            tokenizer_dir(t)  # each one a tokenizer, named if not (before any path is resolved: a symlink loop)

        result = compare_tokenizers(tokenizers, corpus, max_docs_per_source)
        table = Table(title=f"tokenizers on {corpus}")
        table.add_column("source")
        table.add_column("tokenizer")
        for label in METRICS.values():
            table.add_column(label, justify="right")
        for source in result["sources"]:
            for name, tok in result["tokenizers"].items():
                m = tok["metrics"][source]
                table.add_row(source, name, *(f"{m[k]:.4f}" if k == "byte_fallback_rate" else f"{m[k]:.3f}" for k in METRICS))
        console.print(table)
        result["mixture_checks"] = _mixture_checks(tokenizers, corpus)
        json_path, png_path = write_comparison(result, out)
        console.print(f"[green]wrote[/] {json_path} and {png_path}")

    @group.command("infer-mixture")
    def infer_mixture_cmd(
        tokenizer: Path = typer.Argument(..., help="a BPE tokenizer.json, or a directory holding one"),
        category: list[str] = typer.Option(..., "--category", help="NAME=PATH: a file or folder of sample text of one category"),
        merges: int = cli_options.count(None, "--merges", help="replay only the first N merges"),
        sample_bytes: int = cli_options.count(2_000_000, "--sample-bytes", help="bytes of text read from each category"),
        bootstrap: int = cli_options.count(10, "--bootstrap", min=0, help="replays on resampled documents for the ± (0: none)"),
        out: Path = typer.Option(Path("mixture-inference"), "--out", help="where mixture.json and mixture.png go"),
    ) -> None:
        """Infer the training-data mixture of a BPE tokenizer from its merge list (Hayase et al. 2024)."""
        from rich.progress import Progress

        from pintsize.tokenizer.mixture_inference import MixtureInferenceError, infer_mixture, load_merges, write_mixture

        cats = {}
        for c in category:
            name, _, path = c.partition("=")
            if not name.strip() or not path:
                raise MixtureInferenceError(f"--category {c!r}: expected NAME=PATH")
            if name in cats:
                raise MixtureInferenceError(f"--category {c!r}: the name {name!r} is given twice (each category once, with one file or folder)")
            cats[name] = Path(path)
        steps = len(load_merges(tokenizer)[0])
        total = steps if merges is None else min(merges, steps)
        with Progress(console=console) as bar:
            task = bar.add_task("replaying merges", total=total * (1 + bootstrap))
            result = infer_mixture(tokenizer, cats, merges, sample_bytes, bootstrap=bootstrap,
                                   progress=lambda t: bar.advance(task))
        table = Table(title=f"inferred mixture of {tokenizer} ({result['merges_used']} merges; "
                            f"{result['duplicate_merges_folded']} duplicate merges folded: one step per new token)")
        table.add_column("category")
        table.add_column("byte share", justify="right")
        if bootstrap:
            table.add_column(f"± (bootstrap sd, {bootstrap} resamples)", justify="right")
            table.add_column("90% interval", justify="right")
        for name, share in result["proportions"].items():
            row = [name, f"{share:.4f}"]
            if bootstrap:
                lo, hi = result["bootstrap"]["interval_90"][name]
                row += [f"± {result['bootstrap']['std'][name]:.4f}", f"{lo:.3f} – {hi:.3f}"]
            table.add_row(*row)
        console.print(table)
        if not result["lp"]["converged"]:
            console.print(f"[yellow]the linear program stopped after {result['lp']['rounds']} rounds with constraints still "
                          "violated[/]: the shares are not yet the LP's optimum (try fewer --merges)")
        bad = result["conflicting_merges"]
        if bad["count"]:
            worst = ", ".join(f"#{m['step']} {m['merge']!r}" for m in bad["largest"][:5])
            console.print(f"[yellow]{bad['count']} of {result['merges_used']} merges conflict[/] (slack > 0: no mixture of "
                          f"these categories makes them the most frequent pair), worst: {worst}")
        json_path, png_path = write_mixture(result, out)
        console.print(f"[green]wrote[/] {json_path} and {png_path}")


def _mixture_checks(tokenizers: list[Path], corpus: Path) -> dict:
    """Each tokenizer trained here on this corpus: its mixture inferred from its merges beside the
    corpus's real byte shares (the check the run report shows too). Printed as a table."""
    from pintsize.tokenizer.compare import unique_names
    from pintsize.tokenizer.mixture_check import mixture_check

    checks = {name: mixture_check(path, corpus) for name, path in unique_names(tokenizers).items()}
    table = Table(title="mixture inference check: the training mixture read back from each tokenizer's merges")
    for col in ("tokenizer", "source", "byte share in its training text", "inferred from its merges"):
        table.add_column(col, justify="left" if col in ("tokenizer", "source") else "right")
    for name, check in checks.items():
        if check is None:
            table.add_row(name, "-", "not trained by `pintsize tokenizer train` on a multi-source corpus: no known mixture", "-")
        elif "error" in check:
            table.add_row(name, "-", f"skipped: {check['error']}", "-")
        else:
            for source, v in check["sources"].items():
                table.add_row(name, source, f"{v['known']:.3f}", f"{v['inferred']:.3f}")
            table.add_row(name, "log10 MSE", f"uniform guess {check['log10_mse_uniform']:.2f}", f"{check['log10_mse']:.2f}", end_section=True)
    console.print(table)
    return checks


def _report(out: Path) -> None:
    from pintsize.artifacts import read_manifest

    stats = read_manifest(out)["stats"]
    console.print(
        f"[green]wrote[/] {out}: {stats['vocab_size']:,} tokens, BOS {stats['bos_id']}, EOS {stats['eos_id']}, PAD {stats['pad_id']}"
    )
