"""What a reviewer does: get the next document, label it, skip it, undo the last label.

Every change and its audit entry are written in one transaction, so the log can never
disagree with the labels. A shown document is leased to its reviewer for a while so that
two reviewers are not given the same single-review document at once.

Undo works as a stack over the reviewer's own "label" audit entries: the newest one not yet
undone is reversed (its `old` value restored), and the "undo" entry points at it by `ref`.
"""

from __future__ import annotations

import json
import sqlite3
import time

from pintsize.errors import PintsizeError
from pintsize.review import audit, llm_labels
from pintsize.review.storage import ReviewDB


class UnknownDocument(PintsizeError):
    pass


# The first document this reviewer has neither labelled nor skipped, that still needs a label
# after counting those given and those leased to others. Double-review documents that already
# have one label come first, so agreement data accumulates early.
_NEXT_SQL = """
SELECT d.* FROM documents d
WHERE NOT EXISTS (SELECT 1 FROM labels l WHERE l.doc_id = d.id AND l.reviewer = :r)
  AND NOT EXISTS (SELECT 1 FROM skips s WHERE s.doc_id = d.id AND s.reviewer = :r)
  AND (SELECT COUNT(*) FROM labels l WHERE l.doc_id = d.id)
    + (SELECT COUNT(*) FROM assignments a WHERE a.doc_id = d.id AND a.reviewer <> :r AND a.until > :now)
    < d.required
ORDER BY EXISTS (SELECT 1 FROM labels l WHERE l.doc_id = d.id) DESC, d.position
LIMIT 1
"""

_HELD_SQL = """
SELECT d.* FROM assignments a JOIN documents d ON d.id = a.doc_id
WHERE a.reviewer = :r AND a.until > :now
  AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.doc_id = d.id AND l.reviewer = :r)
  AND NOT EXISTS (SELECT 1 FROM skips s WHERE s.doc_id = d.id AND s.reviewer = :r)
ORDER BY d.position LIMIT 1
"""


def _document(row: sqlite3.Row, conn: sqlite3.Connection) -> dict:
    return {
        "id": row["id"],
        "source": row["source"],
        "text": row["text"],
        "meta": json.loads(row["meta"]),
        "scores": json.loads(row["scores"]),
        "double_review": row["required"] == 2,
        "strategy": row["strategy"],
        "llm": llm_labels.label_of(conn, row["id"]),  # None where the LLM judge did not rate it
    }


def _label_of(conn: sqlite3.Connection, doc_id: str, reviewer: str) -> dict | None:
    row = conn.execute(
        "SELECT label, educational_value, note FROM labels WHERE doc_id = ? AND reviewer = ?", (doc_id, reviewer)
    ).fetchone()
    return dict(row) if row else None


def _require_document(conn: sqlite3.Connection, doc_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
    if row is None:
        raise UnknownDocument(f"no document {doc_id!r} in the review queue")
    return row


def _lease(conn: sqlite3.Connection, doc_id: str, reviewer: str, lease_minutes: float) -> None:
    conn.execute("INSERT OR REPLACE INTO assignments VALUES (?, ?, ?)", (doc_id, reviewer, time.time() + lease_minutes * 60))


def next_document(db: ReviewDB, reviewer: str, lease_minutes: float) -> dict | None:
    """The document to show this reviewer (the one they already hold, or a new one), or None when done."""
    now = time.time()
    with db.write() as conn:
        conn.execute("DELETE FROM assignments WHERE until < ?", (now,))
        row = conn.execute(_HELD_SQL, {"r": reviewer, "now": now}).fetchone()
        row = row or conn.execute(_NEXT_SQL, {"r": reviewer, "now": now}).fetchone()
        if row is None:
            return None
        _lease(conn, row["id"], reviewer, lease_minutes)
        return _document(row, conn)


def save_label(db: ReviewDB, reviewer: str, doc_id: str, label: int, educational_value: int, note: str = "") -> dict:
    """Store (or change) this reviewer's label of a document; returns the stored value."""
    new = {"label": label, "educational_value": educational_value, "note": note}
    with db.write() as conn:
        _require_document(conn, doc_id)
        old = _label_of(conn, doc_id, reviewer)
        now = audit.now_iso()
        conn.execute(
            "INSERT INTO labels VALUES (:doc, :r, :label, :educational_value, :note, :now, :now) "
            "ON CONFLICT (doc_id, reviewer) DO UPDATE SET label = :label, "
            "educational_value = :educational_value, note = :note, updated = :now",
            {"doc": doc_id, "r": reviewer, "now": now, **new},
        )
        conn.execute("DELETE FROM assignments WHERE doc_id = ? AND reviewer = ?", (doc_id, reviewer))
        audit.record(conn, reviewer, "label", doc_id, old=old, new=new)
    return new


def skip_document(db: ReviewDB, reviewer: str, doc_id: str) -> None:
    """Never show this document to this reviewer again; it stays available to the others."""
    with db.write() as conn:
        _require_document(conn, doc_id)
        conn.execute("INSERT OR IGNORE INTO skips VALUES (?, ?, ?)", (doc_id, reviewer, audit.now_iso()))
        conn.execute("DELETE FROM assignments WHERE doc_id = ? AND reviewer = ?", (doc_id, reviewer))
        audit.record(conn, reviewer, "skip", doc_id)


def undo_last_label(db: ReviewDB, reviewer: str, lease_minutes: float) -> dict | None:
    """Reverse this reviewer's newest label change not yet undone. Returns the document (leased
    back to the reviewer), with the label it has now under "label" and the one just removed under
    "undone", or None if nothing is left to undo."""
    with db.write() as conn:
        entry = conn.execute(
            "SELECT id, doc_id, old FROM audit WHERE reviewer = ? AND action = 'label' "
            "AND id NOT IN (SELECT ref FROM audit WHERE action = 'undo' AND ref IS NOT NULL) "
            "ORDER BY id DESC LIMIT 1",
            (reviewer,),
        ).fetchone()
        if entry is None:
            return None
        doc_id = entry["doc_id"]
        current = _label_of(conn, doc_id, reviewer)
        restored = None if entry["old"] is None else json.loads(entry["old"])
        if restored is None:
            conn.execute("DELETE FROM labels WHERE doc_id = ? AND reviewer = ?", (doc_id, reviewer))
        else:
            conn.execute(
                "UPDATE labels SET label = :label, educational_value = :educational_value, note = :note, "
                "updated = :now WHERE doc_id = :doc AND reviewer = :r",
                {**restored, "now": audit.now_iso(), "doc": doc_id, "r": reviewer},
            )
        _lease(conn, doc_id, reviewer, lease_minutes)
        audit.record(conn, reviewer, "undo", doc_id, old=current, new=restored, ref=entry["id"])
        doc = _document(_require_document(conn, doc_id), conn)
    return {**doc, "label": restored, "undone": current}


def progress(db: ReviewDB, reviewer: str) -> dict:
    """Counts for the progress bar: this reviewer's labels, and documents done / in the queue."""
    with db.read() as conn:
        mine = conn.execute("SELECT COUNT(*) FROM labels WHERE reviewer = ?", (reviewer,)).fetchone()[0]
        total = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        done = conn.execute(
            "SELECT COUNT(*) FROM documents d WHERE (SELECT COUNT(*) FROM labels l WHERE l.doc_id = d.id) >= d.required"
        ).fetchone()[0]
    return {"mine": mine, "done": done, "total": total}
