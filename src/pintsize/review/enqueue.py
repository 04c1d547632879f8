"""Filling the review queue from a corpus artifact with one of the sampling strategies."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pintsize.errors import PintsizeError
from pintsize.review import audit
from pintsize.review.config import QueueConfig
from pintsize.review.corpus import read_documents, read_index
from pintsize.review.sampling import needs_second_review, select
from pintsize.review.storage import ReviewDB

MODEL_SCORE = "model_score"  # the key of a quality model's fresh score in a document's scores


@dataclass
class EnqueueResult:
    added: int
    double: int  # of them, how many need two reviewers
    by_source: dict[str, int] = field(default_factory=dict)
    broken: dict[str, int] = field(default_factory=dict)  # corpus records left out, by reason
    corpus_documents: int = 0  # reviewable documents in the corpus


def enqueue(db: ReviewDB, corpus: str | Path, config: QueueConfig, quality_model: str | Path | None = None) -> EnqueueResult:
    """Add up to `config.size` documents of `corpus` that are not in the queue yet, at its end."""
    if quality_model is not None and config.strategy != "threshold":
        raise PintsizeError(f"a quality model is only used by the threshold strategy, not by {config.strategy!r}")
    wants_scores = config.strategy == "threshold"
    index = read_index(corpus, config.score_column if wants_scores else None, quality_model if wants_scores else None)
    with db.read() as conn:
        queued = {r[0] for r in conn.execute("SELECT id FROM documents")}
    chosen = select(index.ids, index.sources, index.scores, config, exclude=queued)
    docs = read_documents(corpus, {index.ids[i] for i in chosen})
    result = EnqueueResult(0, 0, broken=index.broken, corpus_documents=len(index.ids))
    now = audit.now_iso()
    with db.write() as conn:
        position = conn.execute("SELECT COALESCE(MAX(position), -1) FROM documents").fetchone()[0]
        by_source: Counter[str] = Counter()
        for i in chosen:
            doc = docs[index.ids[i]]
            scores = dict(doc.scores)
            if quality_model is not None:
                scores[MODEL_SCORE] = float(index.scores[i])
            required = 2 if needs_second_review(doc.id, config.double_fraction, config.seed) else 1
            position += 1
            inserted = conn.execute(
                "INSERT OR IGNORE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.id, position, doc.source, doc.text, json.dumps(doc.meta), json.dumps(scores), required, config.strategy, now),
            ).rowcount
            result.added += inserted
            result.double += inserted * (required == 2)
            by_source[doc.source] += inserted
        result.by_source = dict(sorted(by_source.items()))
        audit.record(
            conn,
            None,
            "queue-added",
            new={
                "corpus": str(Path(corpus).resolve()),
                "config": config.model_dump(),
                "quality_model": _model_name(quality_model),
                "added": result.added,
                "broken": result.broken,
            },
        )
    return result


def queue_documents(db: ReviewDB, docs: list[tuple[str, str, str]], strategy: str) -> int:
    """Add (id, source, text) documents at the end of the queue, one reviewer each, unless queued
    already (how `pintsize quality label` hands a round to the review app). Returns how many were added."""
    now = audit.now_iso()
    added = 0
    with db.write() as conn:
        position = conn.execute("SELECT COALESCE(MAX(position), -1) FROM documents").fetchone()[0]
        for doc_id, source, text in docs:
            position += 1
            added += conn.execute(
                "INSERT OR IGNORE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc_id, position, source, text, "{}", "{}", 1, strategy, now),
            ).rowcount
        if added:
            audit.record(conn, None, "queue-added", new={"strategy": strategy, "added": added})
    return added


def _model_name(quality_model: str | Path | None) -> str | None:
    """What the audit log records: a model directory's absolute path, or a `builtin:` name as given
    (resolved as a path, it would name a file in the working directory that does not exist)."""
    from pintsize.curate.quality import BUILTIN  # lazily, as read_index imports the model

    if quality_model is None:
        return None
    if str(quality_model).startswith(BUILTIN):
        return str(quality_model)
    return str(Path(quality_model).resolve())
