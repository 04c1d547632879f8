"""CLI: pintsize review serve | queue | add-reviewer | reviewers | revoke | export | stats | audit | curve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.table import Table

from pintsize import cli_options

console = Console()
err_console = Console(stderr=True)

DB = typer.Option(Path("review.sqlite"), "--db", help="the review database (SQLite); created if missing")
CORPUS = typer.Argument(..., help="a corpus artifact directory (data/*.parquet with id, text, source, meta)")
STRATEGY = typer.Option(
    "stratified", help="stratified (equal share per source), threshold (nearest the quality threshold) or random"
)
SIZE = cli_options.count(500, help="documents to add to the queue")
THRESHOLD = cli_options.real(0.5, at_least=0.0, at_most=1.0, help="the quality classifier's threshold (threshold strategy)")
SCORE_COLUMN = typer.Option("quality_score", help="the corpus's score column the threshold strategy uses")
QUALITY_MODEL = typer.Option(
    None, help="score the corpus with this quality model instead of its score column (threshold strategy)"
)
DOUBLE = cli_options.real(0.1, at_least=0.0, at_most=1.0, help="share of documents that two reviewers label")
SEED = cli_options.seed(1234, help="random seed of the sampling")
LLM_LABELS = typer.Option(
    None, "--llm-labels", help="an annotation artifact (`pintsize quality annotate`): show its judge's score beside each document"
)


def _import_llm_labels(db, annotation: Path) -> None:
    from pintsize.review.llm_labels import import_llm_labels

    result = import_llm_labels(db, annotation)
    console.print(
        f"LLM labels from {annotation}: {result.matched} queued documents matched, "
        f"{result.unmatched} of {result.records} records not in the queue"
        + (("; left out broken records: " + ", ".join(f"{n} {why}" for why, n in result.broken.items())) if result.broken else "")
    )


def _queue_config(strategy: str, size: int, threshold: float, score_column: str, double_fraction: float, seed: int):
    from pydantic import ValidationError

    from pintsize.errors import PintsizeError
    from pintsize.review.config import QueueConfig

    try:
        return QueueConfig(
            strategy=strategy, size=size, threshold=threshold, score_column=score_column, double_fraction=double_fraction, seed=seed
        )
    except ValidationError as e:
        raise PintsizeError("; ".join(f"--{'-'.join(map(str, x['loc'])).replace('_', '-')}: {x['msg']}" for x in e.errors())) from None


def _fill_queue(db, corpus: Path, config, quality_model: Path | None) -> None:
    from pintsize.review.enqueue import enqueue

    with console.status(f"reading {corpus} and sampling ({config.strategy})…"):
        result = enqueue(db, corpus, config, quality_model)
    console.print(
        f"added {result.added} documents to the queue ({result.double} for two reviewers), "
        f"chosen from {result.corpus_documents} in {corpus}"
    )
    table = Table("source", "added")
    for source, n in result.by_source.items():
        table.add_row(source, str(n))
    console.print(table)
    if result.broken:
        console.print("[yellow]left out broken corpus records:[/] " + ", ".join(f"{n} {why}" for why, n in result.broken.items()))


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    review = groups["review"]

    @review.command("serve")
    def serve(
        corpus: Path = CORPUS,
        db_path: Path = DB,
        host: str = typer.Option(
            "127.0.0.1", help="address to listen on (0.0.0.0 for every interface; put a TLS proxy in front for remote reviewers)"
        ),
        port: int = cli_options.port(8765),
        strategy: Literal["stratified", "threshold", "random"] = STRATEGY,
        size: int = SIZE,
        threshold: float = THRESHOLD,
        score_column: str = SCORE_COLUMN,
        quality_model: Path = QUALITY_MODEL,
        double_fraction: float = DOUBLE,
        seed: int = SEED,
        session_hours: float = cli_options.real(12.0, at_least=0.01, help="how long a sign-in lasts"),
        lease_minutes: float = cli_options.real(15.0, at_least=0.1, help="how long a shown document stays reserved for its reviewer"),
        max_request_bytes: int = cli_options.count(
            64 * 1024, help="a request body larger than this is refused with 413 before it is read in full (default 64 KiB)"
        ),
        llm_labels: Path = LLM_LABELS,
    ) -> None:
        """Run the review web app. An empty queue is first filled from CORPUS with the sampling options."""
        import uvicorn

        from pintsize.review.app import create_app
        from pintsize.review.config import ServerConfig
        from pintsize.review.reviewers import list_reviewers
        from pintsize.review.storage import ReviewDB

        db = ReviewDB(db_path)
        with db.read() as conn:
            queued = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        if queued == 0:
            _fill_queue(db, corpus, _queue_config(strategy, size, threshold, score_column, double_fraction, seed), quality_model)
        else:
            console.print(f"the queue holds {queued} documents (add more with `pintsize review queue`)")
        if llm_labels is not None:
            _import_llm_labels(db, llm_labels)
        if not any(r["active"] for r in list_reviewers(db)):
            console.print(f"[yellow]no reviewers yet:[/] pintsize review add-reviewer NAME --db {db_path}")
        app_ = create_app(db, ServerConfig(session_hours=session_hours, lease_minutes=lease_minutes, max_request_bytes=max_request_bytes))
        console.print(f"[green]review app[/] on http://{host}:{port}/  (database {db_path}; Ctrl-C stops)")
        uvicorn.run(app_, host=host, port=port, log_level="warning")

    @review.command("queue")
    def queue(
        corpus: Path = CORPUS,
        db_path: Path = DB,
        strategy: Literal["stratified", "threshold", "random"] = STRATEGY,
        size: int = SIZE,
        threshold: float = THRESHOLD,
        score_column: str = SCORE_COLUMN,
        quality_model: Path = QUALITY_MODEL,
        double_fraction: float = DOUBLE,
        seed: int = SEED,
    ) -> None:
        """Add documents from CORPUS to the end of the queue (documents already queued are left out)."""
        from pintsize.review.storage import ReviewDB

        config = _queue_config(strategy, size, threshold, score_column, double_fraction, seed)
        _fill_queue(ReviewDB(db_path), corpus, config, quality_model)

    @review.command("add-reviewer")
    def add_reviewer(
        name: str = typer.Argument(..., help="the reviewer's name (letters, digits, '_', '.', '-')"),
        db_path: Path = DB,
        replace: bool = typer.Option(False, help="issue a new token to an existing reviewer (the old one stops working)"),
    ) -> None:
        """Create a reviewer and print their sign-in token (shown once; only its hash is stored)."""
        from pintsize.review.reviewers import add_reviewer as add
        from pintsize.review.storage import ReviewDB

        token = add(ReviewDB(db_path), name, replace=replace)
        err_console.print(f"[green]{name}[/] can sign in with this token (it is not stored; keep it safe):")
        print(token)

    @review.command("reviewers")
    def reviewers_cmd(db_path: Path = DB) -> None:
        """List the reviewers with their label counts."""
        from pintsize.review.reviewers import list_reviewers
        from pintsize.review.storage import ReviewDB

        table = Table("reviewer", "created", "active", "labels")
        for r in list_reviewers(ReviewDB(db_path, create=False)):
            table.add_row(r["name"], r["created"][:19], "yes" if r["active"] else "[red]revoked[/]", str(r["labels"]))
        console.print(table)

    @review.command("revoke")
    def revoke(name: str = typer.Argument(..., help="the reviewer to disable"), db_path: Path = DB) -> None:
        """Disable a reviewer's token and end their sessions; their labels are kept."""
        from pintsize.review.reviewers import revoke_reviewer
        from pintsize.review.storage import ReviewDB

        revoke_reviewer(ReviewDB(db_path, create=False), name)
        console.print(f"revoked {name}")

    @review.command("export")
    def export(
        out: Path = typer.Argument(..., help="the labels file to write (JSONL; the input of `pintsize quality train --labels`)"),
        db_path: Path = DB,
        mode: Literal["consensus", "all"] = typer.Option(
            "consensus", help="consensus: one record per document whose reviewers agree; all: one record per reviewer label"
        ),
    ) -> None:
        """Write the human labels as quality-classifier training records (label 1 = accept)."""
        from pintsize.review.export import export_labels
        from pintsize.review.storage import ReviewDB

        result = export_labels(ReviewDB(db_path, create=False), out, mode)
        accepted = sum(r["label"] for r in result.records)
        console.print(
            f"[green]wrote[/] {out}: {len(result.records)} records ({accepted} accept, {len(result.records) - accepted} reject) "
            f"from {result.labelled_documents} labelled documents"
            + (f"; {result.disagreements} with disagreeing reviewers left out" if result.disagreements else "")
        )

    @review.command("stats")
    def stats_cmd(db_path: Path = DB) -> None:
        """Print label counts per source and agreement for each pair of reviewers."""
        from pintsize.review import llm_labels, stats
        from pintsize.review.storage import ReviewDB

        db = ReviewDB(db_path, create=False)
        sources = Table("source", "in queue", "labelled", "accept", "reject", title="labels per source")
        for s in stats.counts_by_source(db):
            sources.add_row(s["source"], str(s["queued"]), str(s["labelled"]), str(s["accept"]), str(s["reject"]))
        console.print(sources)
        pairs = Table("reviewers", "documents", "agree", "kappa", "value kappa", title="agreement")
        for a in stats.pair_agreement(db) + llm_labels.judge_agreement(db):
            kappa = "" if a["kappa"] is None else f"{a['kappa']:.3f}"
            value_kappa = "" if a["educational_kappa"] is None else f"{a['educational_kappa']:.3f}"
            pairs.add_row(" · ".join(a["reviewers"]), str(a["documents"]), f"{a['agreement']:.0%}", kappa, value_kappa)
        console.print(pairs)

    @review.command("audit")
    def audit_cmd(
        db_path: Path = DB,
        reviewer: str = typer.Option(None, help="only this reviewer's entries"),
        doc_id: str = typer.Option(None, "--doc", help="only entries about this document id"),
        limit: int = cli_options.count(50, help="how many of the newest entries to show"),
    ) -> None:
        """Show the audit log, newest first: who did what, when, and the value before and after."""
        from pintsize.review import audit
        from pintsize.review.storage import ReviewDB

        with ReviewDB(db_path, create=False).read() as conn:
            entries = audit.entries(conn, reviewer=reviewer, doc_id=doc_id, limit=limit)
        table = Table("#", "when (UTC)", "who", "action", "document", "before", "after")
        for e in entries:
            before = "" if e["old"] is None else json.dumps(e["old"])
            after = "" if e["new"] is None else json.dumps(e["new"])
            table.add_row(str(e["id"]), e["ts"][:19], e["reviewer"] or "(admin)", e["action"], e["doc_id"] or "", before, after)
        console.print(table)

    @review.command("curve")
    def curve_cmd(
        db_path: Path = DB,
        positives: list[Path] = typer.Option([], "--pos", exists=True, help="seed positive documents (files, directories or corpora), repeatable"),
        negatives: list[Path] = typer.Option([], "--neg", exists=True, help="seed negative documents, repeatable"),
        points: int = cli_options.count(6, max=1000, help="how many label counts to train at"),
        test_fraction: float = cli_options.real(0.25, at_least=0.01, at_most=0.9, help="share of labelled documents held out"),
        threshold: float = cli_options.real(0.5, at_least=0.0, at_most=1.0, help="score at or above which the classifier accepts"),
        seed: int = cli_options.seed(0, help="seed of the held-out split and the training"),
    ) -> None:
        """Retrain the quality classifier on growing numbers of human labels and store its held-out
        accuracy for the stats page."""
        from pintsize.curate.training_texts import load_texts
        from pintsize.review.curve import learning_curve, store_learning_curve
        from pintsize.review.export import label_records
        from pintsize.review.storage import ReviewDB

        for flag, paths in (("--pos", positives), ("--neg", negatives)):
            for path in paths:  # a seed file that gives no document would be left out without a word
                if next(iter(load_texts(path)), None) is None:
                    raise typer.BadParameter(f"{path}: no readable documents", param_hint=f"'{flag}'")
        db = ReviewDB(db_path, create=False)
        records = label_records(db, "consensus").records
        with console.status(f"training on up to {len(records)} labels…"):
            curve = learning_curve(records, positives, negatives, points, test_fraction, threshold, seed)
        store_learning_curve(db, curve)
        table = Table("labels", "held-out accuracy", "held-out documents", title="quality classifier vs human labels")
        for p in curve:
            table.add_row(str(p.n_labels), f"{p.accuracy:.3f}", str(p.n_test))
        console.print(table)
