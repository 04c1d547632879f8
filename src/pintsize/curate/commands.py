"""CLI: `pintsize curate`, `pintsize quality train`, `pintsize quality score`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pintsize import cli_options

console = Console()


class ExecutorName(str, Enum):
    local = "local"
    ray = "ray"


class Features(str, Enum):
    """What a quality model reads (curate/quality_features.py)."""

    style = "style"
    words = "words"


class Scoring(str, Enum):
    """How a judge's reply becomes a score (curate/judge.py)."""

    auto = "auto"
    logprobs = "logprobs"
    text = "text"


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command("curate")
    def curate(
        recipe: Path = typer.Argument(..., help="a recipe TOML file; its data section says what to curate"),
        executor: ExecutorName = typer.Option(ExecutorName.local, help="local (processes on this machine) or ray"),
        address: str = typer.Option(None, help="with --executor ray: the address of a Ray cluster (default: start Ray locally)"),
        out: Path = typer.Option(None, help="the corpus artifact directory (default: runs/<name>/curate)"),
        workers: int = cli_options.count(None, max=cli_options.MAX_WORKERS, help="parallel tasks (default: all cores)"),
    ) -> None:
        """Curate raw text into a corpus: normalize, language ID, heuristic filters, dedup, PII,
        decontamination, quality, mixture. A killed run resumes where it stopped."""
        from pintsize.curate.pipeline import run_curate
        from pintsize.pipeline.layout import curate_config, quality_model_used
        from pintsize.recipe import load_recipe

        r = load_recipe(recipe)
        out = out or r.stage_dir("curate")
        data = curate_config(r)  # the run's own quality model when [quality_model] trains it, as `pintsize run` does
        used = quality_model_used(r, data)
        console.print(f"quality model: {escape(used)}" if used else "quality model: none (no quality step)", highlight=False)
        run_curate(data, out, executor=executor.value, address=address, workers=workers)
        print_summary(out)

    @groups["quality"].command("train")
    def quality_train(
        out: Path = typer.Argument(..., help="the model directory to write"),
        pos: list[str] = typer.Option([], "--pos", help="textbook-like documents: JSONL/Parquet/text files, directories or corpora; a quoted glob ('docs/*.txt') is expanded here; repeat the flag for more"),
        neg: list[str] = typer.Option([], "--neg", help="documents that are not textbook-like (same forms), e.g. --neg '/usr/share/doc/*/copyright'"),
        labels: list[str] = typer.Option([], "--labels", help='JSONL label records {"text", "label": 1|0} (the review export): human labels, first in precedence'),
        llm_labels: list[str] = typer.Option([], "--llm-labels", help="labels.jsonl of `pintsize quality annotate`: below human labels, above --pos/--neg"),
        test_fraction: float = cli_options.real(0.2, at_least=0.05, at_most=0.5, help="share held out to measure accuracy and AUC"),
        seed: int = cli_options.seed(0, help="seed of the held-out split"),
        c: float = cli_options.real(4.0, "--c", at_least=1e-6, help="inverse regularization strength of the logistic regression"),
        base: str = typer.Option(None, "--base", help="adapt this model (a directory or builtin:expository) to the examples instead of training from nothing"),
        prior_c: float = cli_options.real(10.0, "--prior-c", at_least=1e-6, help="with --base: how far the examples may pull its weights (larger = further)"),
        features: Features = typer.Option(Features.style, "--features", help="style (delexicalised n-grams + layout: how a text is written) or words (word n-grams: learns the seeds' topic too)"),
    ) -> None:
        """Train the textbook-likeness classifier (or adapt one with --base) and report its held-out accuracy and AUC."""
        from pintsize.curate.label_files import llm_labels_warning
        from pintsize.curate.quality import read_label_file, train_quality_model
        from pintsize.pipeline.quality_stage import expand

        # A list option takes one value per flag, so an unquoted glob the shell expanded is a usage
        # error: a quoted glob is expanded here instead (sorted, so training is deterministic).
        pos_paths, neg_paths = expand(pos, "--pos"), expand(neg, "--neg")
        records = [rec for f in expand(labels, "--labels") for rec in read_label_file(f, "--labels")]
        llm_records = [rec for f in expand(llm_labels, "--llm-labels") for rec in read_label_file(f, "--llm-labels")]
        model = train_quality_model(
            pos_paths, neg_paths, records, out, llm_records=llm_records, test_fraction=test_fraction, seed=seed, c=c,
            features=features.value, base=base, prior_c=prior_c,
        )
        m = model.metadata
        if warning := llm_labels_warning(llm_records, m):
            console.print(f"[yellow]warning:[/] --llm-labels: {escape(warning)}", highlight=False)
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
        judge: str = cli_options.url(..., "--judge", help="base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1"),
        model: str = typer.Option(..., "--model", help="the judge's model name"),
        sample: int = cli_options.count(500, help="documents to rate (the same ones on every rerun)"),
        concurrency: int = cli_options.count(4, max=256, help="requests in flight at once"),
        max_retries: int = cli_options.count(4, min=0, max=100, help="retries per document after a failed request (with exponential backoff)"),
        timeout: float = cli_options.real(120.0, at_least=0.1, help="seconds per request"),
        max_chars: int = cli_options.count(3000, min=100, help="characters of each document shown to the judge"),
        scoring: Scoring = typer.Option(
            Scoring.auto, help="auto: the expected score from the judge's logprobs over 0-5 when the endpoint gives them, "
            "else parse 'Educational score: N' from its reply; or logprobs / text only"
        ),
        min_labelled: float = cli_options.real(
            0.5, at_least=0.0, at_most=1.0, help="fail (no finished artifact; answers stay cached) when fewer of the sampled documents get a score"
        ),
        api_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable holding the API key, if any"),
    ) -> None:
        """Rate a sample of documents 0-5 for educational value with an LLM judge (FineWeb-Edu);
        resumable, cached by document hash. Feed labels.jsonl to `quality train --llm-labels`."""
        import os

        from pintsize.curate.annotate import Judge, annotate_corpus

        j = Judge(judge, model, os.environ.get(api_key_env), timeout=timeout, max_retries=max_retries, scoring=scoring.value)
        try:
            s = annotate_corpus(corpus, out, j, sample=sample, concurrency=concurrency, max_chars=max_chars, min_labelled=min_labelled)
        finally:
            j.close()
        t = Table(title=f"LLM annotation: {out}", show_header=False)
        for k in ("documents", "labeled", "unlabeled", "no_score", "reused_from_cache", "requested", "keep_share_at_3", "scoring"):
            t.add_row(k.replace("_", " "), str(s[k]))
        t.add_row("scores 0..5", " ".join(f"{k}:{v}" for k, v in s["score_counts"].items()))
        t.add_row("failed attempts by kind", " ".join(f"{k}:{v}" for k, v in s["failures"].items()))
        console.print(t)
        if s["fallback_reason"]:
            console.print(f"note: the judge gave no logprobs ({escape(s['fallback_reason'])}): its replies were parsed instead", highlight=False)
        for reply in s["no_score_replies"]:
            console.print(f"[yellow]no score in reply:[/] {escape(reply[:200])!r}", highlight=False)

    @groups["quality"].command("label")
    def quality_label(
        source: Path = typer.Argument(..., help="a recipe (its curation's documents) or a curate artifact"),
        out: Path = typer.Argument(..., help="the quality model to write; a recipe uses it with model = OUT in its data.quality section"),
        judge: str = cli_options.url(None, "--judge", help="labels from an LLM judge: base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1"),
        model: str = typer.Option(None, "--model", help="the judge's model name"),
        review_db: Path = typer.Option(
            None, "--review-db", help="labels from the review app instead: each round's documents are queued in this database; "
            "run the command again when reviewers have labelled them"
        ),
        labels: list[Path] = typer.Option([], "--labels", help="labels you already have for this corpus (a review export, an annotation's labels.jsonl); repeatable"),
        quality_model: str = typer.Option(None, "--quality-model", help="the model to start from (default: the one the recipe or curation uses)"),
        rounds: int = cli_options.count(3, max=1000, help="rounds of label, retrain"),
        per_round: int = cli_options.count(40, help="documents labelled per round for training, nearest the current model's threshold in each source"),
        heldout: int = cli_options.count(100, min=4, help="documents labelled first, a stratified random sample never trained on: precision and recall are measured on them"),
        seed: int = cli_options.seed(0, help="seed of the samples"),
        keep_seeds: bool = typer.Option(False, "--keep-seeds", help="retrain on the start model's seed files too, not on the labels alone (measured worse: benchmarks/RESULTS.md)"),
        pool: int = cli_options.count(20_000, min=10, help="a larger corpus is sampled to this many documents first"),
        concurrency: int = cli_options.count(4, max=256, help="judge requests in flight at once"),
        max_retries: int = cli_options.count(4, min=0, max=100, help="retries per document after a failed request"),
        timeout: float = cli_options.real(120.0, at_least=0.1, help="seconds per judge request"),
        max_chars: int = cli_options.count(3000, min=100, help="characters of each document shown to the judge"),
        scoring: Scoring = typer.Option(Scoring.auto, help="auto (the judge's logprobs over 0-5 when offered, else its parsed reply), logprobs or text"),
        min_labelled: float = cli_options.real(0.5, at_least=0.0, at_most=1.0, help="fail when the judge scores fewer of a batch of documents"),
        api_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable holding the judge's API key, if any"),
        workers: int = cli_options.count(None, max=cli_options.MAX_WORKERS, help="parallel curation tasks, when a recipe's documents must be curated first"),
    ) -> None:
        """Label documents of the corpus being curated (an LLM judge or the review app), retrain the
        quality model on them, repeat; precision, recall and the threshold are measured on held-out
        labels of that corpus. Exits 3 while the review app still has documents to label."""
        import os

        from pintsize.curate.judge import Judge, check_reachable
        from pintsize.curate.label_inputs import resolve_label_input
        from pintsize.curate.label_loop import JudgeOptions, LoopConfig, run_label_loop
        from pintsize.curate.label_sources import LabelsPending
        from pintsize.errors import PintsizeError

        if (judge is None) == (review_db is None) and not labels:
            raise PintsizeError("quality label: give --judge URL --model NAME, or --review-db DB (or --labels FILE alone)")
        if judge is not None and review_db is not None:
            raise PintsizeError("quality label: --judge and --review-db are two label sources; give one")
        if judge is not None and not model:
            raise PintsizeError("quality label: --judge needs --model (the judge's model name)")
        found = resolve_label_input(source, quality_model, workers)
        for note in found.notes:
            console.print(escape(note), highlight=False)
        console.print(f"start model: {escape(str(found.start_model)) if found.start_model else 'none (the first round samples at random)'}", highlight=False)
        j = None
        if judge is not None:
            j = Judge(judge, model, os.environ.get(api_key_env), timeout=timeout, max_retries=max_retries, scoring=scoring.value)
            check_reachable(j.url, j.api_key)
            console.print(f"judge {escape(model)} at {escape(judge)}: scoring by {j.probe()}", highlight=False)
        table = Table("round", "training labels", "held-out AUC", "threshold", "kept", "precision", "recall", "non-expository kept",
                      title=f"quality model vs held-out labels of {found.corpus}")

        def report(row: dict) -> None:
            f = lambda v, pct=False: "-" if v is None else f"{v:.0%}" if pct else f"{v:.3f}"  # noqa: E731
            table.add_row(str(row["round"]) + (" (start)" if row["round"] == 0 else ""), str(row["train_labels"]), f(row.get("auc")),
                          f(row.get("threshold")), f(row.get("keep_share"), True), f(row.get("precision")), f(row.get("recall")),
                          f(row.get("other_kept"), True))
            console.print(f"round {row['round']}: held-out AUC {f(row.get('auc'))}, threshold {f(row.get('threshold'))}", highlight=False)

        config = LoopConfig(rounds=rounds, per_round=per_round, heldout=heldout, seed=seed, pool=pool, start_threshold=found.start_threshold,
                            keep_seeds=keep_seeds)
        try:
            s = run_label_loop(found.corpus, out, config, judge=j, judge_options=JudgeOptions(concurrency, max_chars, min_labelled),
                               review_db=review_db, label_files=labels, start_model=found.start_model, report=report)
        except LabelsPending as e:
            console.print(table)
            console.print(f"[yellow]waiting:[/] {escape(str(e))}", highlight=False)
            raise typer.Exit(3) from None
        finally:
            if j is not None:
                j.close()
        console.print(table)
        op = s["operating_point"]
        precision = "n/a" if op["precision"] is None else f"{op['precision']:.3f}"
        console.print(
            f"{s['labels']} labels ({s['heldout_labels']} held out). Use the model with its threshold (on the held-out labels: "
            f"precision {precision}, recall {op['recall']:.3f}, non-expository kept {op['other_kept']:.1%}):\n"
            + escape(f'  [data.quality]\n  model = "{out}"\n  threshold = {op["threshold"]}'),
            highlight=False,
        )

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
HEURISTIC_STEPS = ("normalize", "language", "heuristics")  # what a rule profile changes


def print_summary(out: Path) -> None:
    """The corpus's funnel per source, what the quality cut was counted over, and a note on each
    source that kept almost nothing, saying which step removed it."""
    import json

    stats = json.loads((out / "stats.json").read_text())
    t = Table(title=f"curated corpus: {out}")
    for col in ("source", "read", "kept", "removed by a step", "unreadable", "words read", "words kept"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for name, c in stats["sources"].items():
        t.add_row(name, *(f"{c[k]:,}" for k in ("input", "kept", "filtered", "quarantined", "tokens_in", "output_tokens")))
    console.print(t)
    console.print(
        "documents per source: read = kept + removed by a step (language, heuristics, dedup, quality, ...) + unreadable "
        f"(quarantined); kept counts mixture repeats once; words are {stats['token_unit']}; report: {out / 'report.html'}",
        highlight=False,
    )
    if q := stats.get("quality"):
        console.print(quality_line(q), highlight=False)
        for warning in q.get("warnings", []):
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    for name, c in stats["sources"].items():
        if not c["input"]:
            console.print(f"[yellow]note:[/] source {name!r} holds no records (its files are empty)", highlight=False)
        elif c["kept"] < LOW_YIELD * c["input"]:
            console.print(f"[yellow]note:[/] {escape(low_yield_note(name, c, stats['steps']))}", highlight=False)
    quarantined = sum(c["quarantined"] for c in stats["sources"].values())
    if quarantined:
        console.print(
            f"[yellow]note:[/] {quarantined:,} records were quarantined (unreadable or damaged input); each one, "
            f"with its file, line and reason, is in {out / 'rejects'} (step = read)",
            highlight=False,
        )


def low_yield_note(name: str, c: dict, steps: dict) -> str:
    """Why a source kept almost nothing, by the step that removed most of it. A rule profile is
    advised only when the rules removed it, never for the quality step or unreadable input."""
    by_step = {step: sum(by_source.get(name, {}).get("removed", {}).values()) for step, by_source in steps.items()}
    step, removed = max(by_step.items(), key=lambda kv: kv[1], default=("", 0))
    head = f"source {name!r} kept {c['kept']:,} of {c['input']:,} documents read"
    if step == "read":
        return f"{head}: {removed:,} could not be read (quarantined; see rejects, step = read)"
    if step == "quality":
        return (f"{head}: the quality step removed {removed:,} (its model ranks this source below the cut). If it is text you "
                "want, label some of this corpus (`pintsize quality label`) or lower the cut")
    if step in ("dedup_exact", "dedup_near"):
        return f"{head}: {removed:,} were duplicates ({step})"
    reasons = _removal_reasons(steps, name, HEURISTIC_STEPS).most_common(3)
    advice = ('If it is text you want, a rule profile may fit it better: [[data.sources]] profile = "docs", "prose" or "code"'
              if step in HEURISTIC_STEPS else "")
    return f"{head} (most removed by {', '.join(f'{r}: {n:,}' for r, n in reasons) or step}). {advice}".rstrip()


def quality_line(q: dict) -> str:
    """The quality cut in words, with what it was counted over: "quality: kept 220 of the 279
    documents that reached it (after the heuristic filters and dedup), 78.9%, at threshold 0.5; ..."."""
    if q.get("threshold") is None:
        return "quality: nothing to rank"
    if q.get("keep_share") is None:
        return "quality: no documents reached the quality step"
    reached, kept, read = q.get("reached"), q.get("kept"), q.get("input_documents")
    if reached is None:  # stats of an older curate
        line = f"quality: keeps {q['keep_share']:.1%} of the documents that reached it at threshold {q['threshold']:.3g}"
    else:
        rule = (f"the best-scoring {q['top_percent']:g}% of them" if q.get("top_percent") is not None
                else f"at most {q['keep_input_fraction']:g} of the {read:,} documents read" if q.get("keep_input_fraction") is not None
                else "those scoring at least the threshold")
        line = (f"quality: kept {kept:,} of the {reached:,} documents that reached it (after the heuristic filters and dedup), "
                f"{q['keep_share']:.1%}, {rule}: threshold {q['threshold']:.3g}; {kept / max(read, 1):.1%} of the {read:,} documents read")
    if op := q.get("heldout"):
        p = "n/a" if op["precision"] is None else f"{op['precision']:.2f}"
        r = "n/a" if op["recall"] is None else f"{op['recall']:.2f}"
        line += (f"; on the model's {op['heldout_n']:,} held-out labels ({q.get('heldout_source') or 'a share of its training examples'}) "
                 f"this threshold keeps {op['keep_share']:.0%}, precision {p}, recall {r}")
    else:
        line += "; the model has no held-out labels stored (retrain it to see precision)"
    return line


def _removal_reasons(steps: dict, source: str, only: tuple[str, ...] | None = None):
    from collections import Counter

    reasons: Counter = Counter()
    for step, by_source in steps.items():
        if only is None or step in only:
            reasons.update(by_source.get(source, {}).get("removed", {}))
    return reasons
