"""CLI: `pintsize curate`, `pintsize quality train`, `pintsize quality score`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


class ExecutorName(str, Enum):
    local = "local"
    ray = "ray"


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("curate")
    def curate(
        recipe: Path = typer.Argument(..., help="a recipe TOML file; its data section says what to curate"),
        executor: ExecutorName = typer.Option(ExecutorName.local, help="local (processes on this machine) or ray"),
        address: str = typer.Option(None, help="with --executor ray: the address of a Ray cluster (default: start Ray locally)"),
        out: Path = typer.Option(None, help="the corpus artifact directory (default: runs/<name>/curate)"),
        workers: int = typer.Option(None, min=1, help="parallel tasks (default: all cores)"),
    ) -> None:
        """Curate raw text into a corpus: normalize, language ID, heuristic filters, dedup, PII,
        decontamination, quality, mixture. A killed run resumes where it stopped."""
        from pintsize.curate.pipeline import run_curate
        from pintsize.recipe import load_recipe

        r = load_recipe(recipe)
        out = out or r.stage_dir("curate")
        run_curate(r.data, out, executor=executor.value, address=address, workers=workers)
        print_summary(out)

    @groups["quality"].command("train")
    def quality_train(
        out: Path = typer.Argument(..., help="the model directory to write"),
        pos: list[str] = typer.Option([], "--pos", help="textbook-like documents: JSONL/Parquet/text files, directories or corpora; a quoted glob ('docs/*.txt') is expanded here; repeat the flag for more"),
        neg: list[str] = typer.Option([], "--neg", help="documents that are not textbook-like (same forms), e.g. --neg '/usr/share/doc/*/copyright'"),
        labels: list[str] = typer.Option([], "--labels", help='JSONL label records {"text", "label": 1|0} (the review export): human labels, first in precedence'),
        llm_labels: list[str] = typer.Option([], "--llm-labels", help="labels.jsonl of `pintsize quality annotate`: below human labels, above --pos/--neg"),
        test_fraction: float = typer.Option(0.2, min=0.05, max=0.5, help="share held out to measure accuracy and AUC"),
        seed: int = typer.Option(0, help="seed of the held-out split"),
        c: float = typer.Option(4.0, "--c", min=1e-6, help="inverse regularization strength of the logistic regression"),
        base: str = typer.Option(None, "--base", help="adapt this model (a directory or builtin:expository) to the examples instead of training from nothing"),
        prior_c: float = typer.Option(3.0, "--prior-c", min=1e-6, help="with --base: how far the examples may pull its weights (larger = further)"),
        features: str = typer.Option("style", "--features", help="style (delexicalised n-grams + layout: how a text is written) or words (word n-grams: learns the seeds' topic too)"),
    ) -> None:
        """Train the textbook-likeness classifier (or adapt one with --base) and report its held-out accuracy and AUC."""
        from pintsize.curate.quality import read_label_file, train_quality_model
        from pintsize.pipeline.quality_stage import expand

        # A list option takes one value per flag, so an unquoted glob the shell expanded is a usage
        # error: a quoted glob is expanded here instead (sorted, so training is deterministic).
        pos_paths, neg_paths = expand(pos, "--pos"), expand(neg, "--neg")
        records = [rec for f in expand(labels, "--labels") for rec in read_label_file(f)]
        llm_records = [rec for f in expand(llm_labels, "--llm-labels") for rec in read_label_file(f)]
        model = train_quality_model(
            pos_paths, neg_paths, records, out, llm_records=llm_records, test_fraction=test_fraction, seed=seed, c=c,
            features=features, base=base, prior_c=prior_c,
        )
        m = model.metadata
        t = Table(title=f"quality model: {out}", show_header=False)
        if base:
            t.add_row("adapted from", f"{base} (prior_c {prior_c})")
        t.add_row("examples (positive / negative)", f"{m['examples']['positive']:,} / {m['examples']['negative']:,}")
        if m["heldout"]:
            t.add_row(f"held-out accuracy (n={m['heldout']['n']})", f"{m['heldout']['accuracy']:.3f}")
            t.add_row("held-out AUC", f"{m['heldout']['auc']:.3f}")
        else:
            t.add_row("held-out", "none (fewer than 5 examples of a class)")
        if m["examples"]["llm_records"]:
            t.add_row("LLM labels (overridden by human)", f"{m['examples']['llm_records']:,} ({m['examples']['llm_labels_overridden']:,})")
        for threshold in (0.5, 0.9):
            if op := model.operating_point(threshold):
                t.add_row(f"threshold {threshold}: held-out keep / precision / recall", f"{op['keep_share']} / {op['precision']} / {op['recall']}")
        console.print(t)

    @groups["quality"].command("annotate")
    def quality_annotate(
        corpus: Path = typer.Argument(..., help="documents to sample: a corpus artifact, JSONL/Parquet/text files or a directory"),
        out: Path = typer.Argument(..., help="the annotation artifact to write (labels.jsonl, cache.jsonl)"),
        judge: str = typer.Option(..., "--judge", help="base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1"),
        model: str = typer.Option(..., "--model", help="the judge's model name"),
        sample: int = typer.Option(500, min=1, help="documents to rate (the same ones on every rerun)"),
        concurrency: int = typer.Option(4, min=1, max=256, help="requests in flight at once"),
        max_retries: int = typer.Option(4, min=0, help="retries per document (with exponential backoff)"),
        timeout: float = typer.Option(120.0, min=0.1, help="seconds per request"),
        max_chars: int = typer.Option(3000, min=100, help="characters of each document shown to the judge"),
        api_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable holding the API key, if any"),
    ) -> None:
        """Rate a sample of documents 0-5 for educational value with an LLM judge (FineWeb-Edu);
        resumable, cached by document hash. Feed labels.jsonl to `quality train --llm-labels`."""
        import os

        from pintsize.curate.annotate import Judge, annotate_corpus

        j = Judge(judge, model, os.environ.get(api_key_env), timeout=timeout, max_retries=max_retries)
        try:
            s = annotate_corpus(corpus, out, j, sample=sample, concurrency=concurrency, max_chars=max_chars)
        finally:
            j.close()
        t = Table(title=f"LLM annotation: {out}", show_header=False)
        for k in ("documents", "labeled", "unlabeled", "reused_from_cache", "requested", "keep_share_at_3"):
            t.add_row(k.replace("_", " "), str(s[k]))
        t.add_row("scores 0..5", " ".join(f"{k}:{v}" for k, v in s["score_counts"].items()))
        t.add_row("failed attempts by kind", " ".join(f"{k}:{v}" for k, v in s["failures"].items()))
        console.print(t)

    @groups["quality"].command("score")
    def quality_score(
        model: str = typer.Argument(..., help="a quality model directory, or builtin:expository"),
        corpus: Path = typer.Argument(..., help="a corpus artifact (or Parquet files with a text column)"),
        out: Path = typer.Argument(..., help="the scored corpus artifact to write"),
    ) -> None:
        """Score every document of a corpus; writes a copy with a quality_score column."""
        from pintsize.curate.scoring import score_corpus

        s = score_corpus(model, corpus, out)
        t = Table(title=f"quality scores: {out}", show_header=False)
        t.add_row("documents", f"{s['documents']:,}")
        for q, v in s["quantiles"].items():
            t.add_row(f"quantile {q}", f"{v:.3f}")
        t.add_row("share >= 0.5", f"{s['share_at_least_0.5']}")
        console.print(t)


LOW_YIELD = 0.1  # a source keeping less than this share of its documents gets a note


def print_summary(out: Path) -> None:
    """The corpus's funnel per source, and a note on each source that kept almost nothing."""
    import json

    stats = json.loads((out / "stats.json").read_text())
    t = Table(title=f"curated corpus: {out}")
    for col in ("source", "input", "kept", "filtered", "quarantined", "tokens in", "tokens out"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for name, c in stats["sources"].items():
        t.add_row(name, *(f"{c[k]:,}" for k in ("input", "kept", "filtered", "quarantined", "tokens_in", "output_tokens")))
    console.print(t)
    console.print(f"tokens are {stats['token_unit']}; report: {out / 'report.html'}")
    if q := stats.get("quality"):
        console.print(quality_line(q), highlight=False)
        for warning in q.get("warnings", []):
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    for name, c in stats["sources"].items():
        if not c["input"]:
            console.print(f"[yellow]note:[/] source {name!r} holds no records (its files are empty)", highlight=False)
        elif c["kept"] < LOW_YIELD * c["input"]:
            reasons = _removal_reasons(stats["steps"], name).most_common(3)
            console.print(
                f"[yellow]note:[/] source {name!r} kept {c['kept']:,} of {c['input']:,} documents "
                f"(most removed by {', '.join(f'{r}: {n:,}' for r, n in reasons)}). If it is text you want, "
                + escape('a rule profile may fit it better: [[data.sources]] profile = "docs", "prose" or "code"'),
                highlight=False,
            )
    quarantined = sum(c["quarantined"] for c in stats["sources"].values())
    if quarantined:
        console.print(
            f"[yellow]note:[/] {quarantined:,} records were quarantined (unreadable or damaged input); each one, "
            f"with its file, line and reason, is in {out / 'rejects'} (step = read)",
            highlight=False,
        )


def quality_line(q: dict) -> str:
    """The quality cut's operating point in words: "keeps 23% (threshold 0.71); on 412 held-out labels ..."."""
    if q.get("threshold") is None:
        return "quality: nothing to rank"
    line = f"quality: keeps {q['keep_share']:.1%} at threshold {q['threshold']:.3g}" if q.get("keep_share") is not None else "quality: no documents"
    if op := q.get("heldout"):
        p = "n/a" if op["precision"] is None else f"{op['precision']:.2f}"
        line += f"; on {op['heldout_n']:,} held-out labels this threshold keeps {op['keep_share']:.0%}, precision {p}, recall {op['recall']:.2f}"
    else:
        line += "; the model has no held-out labels stored (retrain it to see precision)"
    return line


def _removal_reasons(steps: dict, source: str):
    from collections import Counter

    reasons: Counter = Counter()
    for by_source in steps.values():
        reasons.update(by_source.get(source, {}).get("removed", {}))
    return reasons
