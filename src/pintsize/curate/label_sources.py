"""Where a label loop's labels come from: an LLM judge (asked now, cached), the review app (its
documents queued in the review database; humans label them when they can), and label files the
user already has (a review export, an annotation) whose documents must be in the corpus.

Every source answers `label(docs) -> {doc id: record}` with what it has; a record is
{"label": 1 | 0, "origin": "judge" | "review" | "file", "human": bool, ...}.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

from pintsize.curate.judge import KEEP_SCORE, Judge
from pintsize.curate.judging import JudgeCache, ask_all, cache_key, check_labelled
from pintsize.curate.label_corpus import Doc
from pintsize.errors import DataError, PintsizeError


MIN_PREFIX = 100  # `quality annotate --max-chars` is at least this: a shorter text is a whole document


class LabelsPending(PintsizeError):
    """The review app has not labelled a round's documents yet: run the command again later."""


class JudgeLabels:
    def __init__(self, judge: Judge, cache: JudgeCache, *, max_chars: int, concurrency: int, min_labelled: float, progress: bool):
        self.judge, self.cache, self.max_chars = judge, cache, max_chars
        self.concurrency, self.min_labelled, self.progress = concurrency, min_labelled, progress

    def label(self, docs: list[Doc], what: str) -> dict[str, dict]:
        shown = {d.id: d.text[: self.max_chars] for d in docs}
        ask_all(self.judge, list(shown.values()), self.cache, concurrency=self.concurrency, progress=self.progress, label=what)
        out, unscored = {}, []
        for doc_id, text in shown.items():
            answer = self.cache.cache.get(cache_key(text, self.judge))
            if answer is None:
                continue
            if answer.get("score") is None:
                unscored.append(answer)
                continue
            out[doc_id] = {"label": int(answer["score"] >= KEEP_SCORE), "origin": "judge", "human": False, "score": answer["score"],
                           "method": answer.get("method"), "model": self.judge.model,
                           **{k: answer[k] for k in ("expected_score", "score_probs") if k in answer}}
        check_labelled(self.judge, len(out), len(docs), self.min_labelled, unscored, f"quality label ({what})", self.cache.path)
        return out


class ReviewLabels:
    """Queues documents in a review database (`pintsize review serve --db DB` shows them) and reads
    back the labels its reviewers agree on."""

    STRATEGY = "quality-label"

    def __init__(self, db_path: Path):
        from pintsize.review.storage import ReviewDB

        self.db_path = Path(db_path)
        self.db = ReviewDB(self.db_path)

    def label(self, docs: list[Doc], what: str) -> dict[str, dict]:
        from pintsize.review.enqueue import queue_documents
        from pintsize.review.export import label_records

        queue_documents(self.db, [(d.id, d.source, d.text) for d in docs], self.STRATEGY)
        wanted = {d.id for d in docs}
        out = {}
        for r in label_records(self.db, "consensus").records:
            if r["id"] in wanted:
                out[r["id"]] = {"label": int(r["label"]), "origin": "review", "human": True, "reviewer": r["reviewer"],
                                "educational_value": r["educational_value"]}
        missing = len(wanted) - len(out)
        if missing:
            raise LabelsPending(
                f"{what}: {missing} of {len(wanted)} documents wait for a label in the review app: "
                f"`pintsize review serve CORPUS --db {self.db_path}` shows them; run this command again when they are labelled"
            )
        return out


def file_labels(paths: list[Path], docs_by_id: dict[str, str], texts: dict[str, str]) -> dict[str, dict]:
    """Labels the user already has, by corpus document id. A record names its document by `id`, or
    by its `text` (the whole text, or its start, as `quality annotate` shows the judge the first
    characters). A record whose document is not in the corpus is an error.

    `docs_by_id`: every corpus id -> its source; `texts`: id -> text for matching by text."""
    from pintsize.curate.quality import read_label_file

    by_prefix: dict[int, dict[str, str]] = defaultdict(dict)  # prefix length -> sha256 of the prefix -> id

    def by_text(text: str) -> str | None:
        n = len(text)
        if n < MIN_PREFIX:  # a short text names its document only whole
            return next((doc_id for doc_id, t in texts.items() if t == text), None)
        if n not in by_prefix:
            for doc_id, t in texts.items():
                by_prefix[n].setdefault(hashlib.sha256(t[:n].encode()).hexdigest(), doc_id)
        return by_prefix[n].get(hashlib.sha256(text.encode()).hexdigest())

    out: dict[str, dict] = {}
    for path in paths:
        for lineno, rec in enumerate(read_label_file(path, "--labels"), 1):
            doc_id = rec.get("id") if isinstance(rec.get("id"), str) else None
            if doc_id is None or doc_id not in docs_by_id:
                doc_id = by_text(rec["text"]) if doc_id is None else None
            if doc_id is None:
                what = f"id {rec['id']!r}" if isinstance(rec.get("id"), str) else f"text {rec['text'][:60]!r}"
                raise DataError(f"--labels {path}:{lineno}: a label for a document that is not in the corpus ({what})")
            human = "judge" not in rec  # a review export has reviewers; an annotation names its judge
            out.setdefault(doc_id, {"label": int(rec["label"]), "origin": "file", "human": human, "file": str(path)})
    return out

