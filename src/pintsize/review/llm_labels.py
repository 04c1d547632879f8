"""An LLM judge's labels (`pintsize quality annotate`) beside the human ones: imported into the
review database, shown with each document, and compared with every reviewer on the stats page.

Documents are matched by id where an annotation record has one, else the way annotate keys them:
the sha256 of the text's first `max_chars` characters (from the annotation's manifest). A
document the judge never rated has no row here, so it shows no score, never a 0.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pintsize.artifacts import read_manifest
from pintsize.curate.annotate import KEEP_SCORE, LABELS_FILE, text_sha256
from pintsize.errors import DataError, PintsizeError
from pintsize.review.stats import _kappa
from pintsize.review.storage import ReviewDB

JUDGE = "llm"  # how the judge is named in agreement rows
DEFAULT_MAX_CHARS = 3000  # annotate's default, for an annotation whose manifest does not say

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_labels (
    doc_id TEXT PRIMARY KEY REFERENCES documents(id),
    score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 5),
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    model TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    source TEXT NOT NULL
);
"""


@dataclass
class ImportResult:
    records: int  # usable annotation records read
    matched: int  # review documents that got an LLM label
    unmatched: int  # usable records whose document is not in the review queue
    broken: dict[str, int] = field(default_factory=dict)  # reason -> count of unusable records


def _broken_reason(rec) -> str | None:
    if not isinstance(rec, dict):
        return "not a JSON object"
    score = rec.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 5:
        return "score is not an integer 0-5"
    if not (isinstance(rec.get("sha256"), str) or isinstance(rec.get("text"), str) or isinstance(rec.get("id"), str)):
        return "no id, sha256 or text"
    return None


def read_annotation(path: str | Path) -> tuple[list[dict], int, dict[str, int]]:
    """(usable records, max_chars the judge saw, broken-record counts) of an annotation artifact
    directory (or its labels.jsonl)."""
    path = Path(path)
    directory = path.parent if path.is_file() else path
    labels = directory / LABELS_FILE
    if not labels.is_file():
        raise DataError(f"{path}: no {LABELS_FILE} (expected the output of `pintsize quality annotate`)")
    try:
        max_chars = read_manifest(directory).get("config", {}).get("max_chars", DEFAULT_MAX_CHARS)
    except PintsizeError:  # a bare labels.jsonl without a manifest: annotate's default cut
        max_chars = DEFAULT_MAX_CHARS
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars <= 0:
        raise DataError(f"{directory}: manifest config max_chars is {max_chars!r}, expected a positive integer")
    records, broken = [], defaultdict(int)
    for line in labels.read_text(encoding="utf-8", errors="replace").splitlines():  # a bad byte makes its line "not JSON"
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            broken["not JSON"] += 1
            continue
        reason = _broken_reason(rec)
        if reason:
            broken[reason] += 1
        else:
            records.append(rec)
    if not records:
        raise DataError(f"{labels}: no usable label records" + (f" ({', '.join(f'{n} {why}' for why, n in broken.items())})" if broken else ""))
    return records, max_chars, dict(broken)


def import_llm_labels(db: ReviewDB, annotation: str | Path) -> ImportResult:
    """Store the judge's score of every queued document it rated, replacing every earlier import's."""
    records, max_chars, broken = read_annotation(annotation)
    by_id = {r["id"]: r for r in records if isinstance(r.get("id"), str)}
    by_hash = {r.get("sha256") or text_sha256(r["text"]): r for r in records if "id" not in r}
    used: set[int] = set()
    with db.write() as conn:
        conn.execute(SCHEMA)  # one statement: executescript would end the transaction
        conn.execute("DELETE FROM llm_labels")  # one judge of record: the newest import
        rows = conn.execute("SELECT id, text FROM documents").fetchall()
        for row in rows:
            rec = by_id.get(row["id"]) or by_hash.get(text_sha256(row["text"][:max_chars]))
            if rec is None:
                continue
            used.add(id(rec))
            conn.execute(
                "INSERT OR REPLACE INTO llm_labels VALUES (?, ?, ?, ?, ?, ?)",
                (row["id"], rec["score"], int(rec["score"] >= KEEP_SCORE), str(rec.get("model", "")),
                 str(rec.get("prompt_sha256", "")), str(annotation)),
            )
    return ImportResult(len(records), len(used), len(records) - len(used), broken)


def _has_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='llm_labels'").fetchone() is not None


def label_of(conn: sqlite3.Connection, doc_id: str) -> dict | None:
    """The judge's label of a document ({"score", "label", "model"}), or None if it has none."""
    if not _has_table(conn):
        return None
    row = conn.execute("SELECT score, label, model FROM llm_labels WHERE doc_id = ?", (doc_id,)).fetchone()
    return dict(row) if row else None


def judge_agreement(db: ReviewDB) -> list[dict]:
    """For every reviewer who labelled documents the judge rated: how many, how often they agreed
    on accept (human) vs score >= 3 (judge), Cohen's kappa on that, and quadratic-weighted kappa of
    the human educational value against the judge's 0-5 score (the same scale, the same prompt idea)."""
    with db.read() as conn:
        if not _has_table(conn):
            return []
        rows = conn.execute(
            "SELECT l.reviewer, l.label, l.educational_value, j.label AS llm_label, j.score AS llm_score "
            "FROM labels l JOIN llm_labels j ON j.doc_id = l.doc_id ORDER BY l.reviewer"
        ).fetchall()
    by_reviewer: dict[str, list[sqlite3.Row]] = defaultdict(list)
    for r in rows:
        by_reviewer[r["reviewer"]].append(r)
    out = []
    for reviewer, both in sorted(by_reviewer.items()):
        human, judge = [r["label"] for r in both], [r["llm_label"] for r in both]
        out.append(
            {
                "reviewers": [reviewer, JUDGE],
                "documents": len(both),
                "agreement": sum(h == j for h, j in zip(human, judge)) / len(both),
                "kappa": _kappa(human, judge),
                "educational_kappa": _kappa(
                    [r["educational_value"] for r in both], [r["llm_score"] for r in both], weights="quadratic", labels=list(range(6))
                ),
            }
        )
    return out


def judged_documents(db: ReviewDB) -> int:
    with db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM llm_labels").fetchone()[0] if _has_table(conn) else 0
