import sqlite3

import pytest

from pintsize.review import audit
from pintsize.review.labeling import (
    UnknownDocument,
    next_document,
    progress,
    save_label,
    skip_document,
    undo_last_label,
)

LEASE = 15.0


def _labels(db, reviewer):
    with db.read() as conn:
        return {r["doc_id"]: (r["label"], r["educational_value"], r["note"]) for r in conn.execute("SELECT * FROM labels WHERE reviewer = ?", (reviewer,))}


def test_next_document_is_stable_until_labelled_then_moves_on(db, tokens):
    first = next_document(db, "alice", LEASE)
    assert first["text"] and first["source"] in {"python-docs", "sharegpt"}
    assert "quality_score" in first["scores"]
    assert next_document(db, "alice", LEASE)["id"] == first["id"]  # a reload shows the same document
    save_label(db, "alice", first["id"], 1, 4, "clear reference text")
    assert next_document(db, "alice", LEASE)["id"] != first["id"]
    assert _labels(db, "alice") == {first["id"]: (1, 4, "clear reference text")}


def test_a_leased_single_review_document_is_not_given_to_another_reviewer(db, tokens):
    with db.write() as conn:
        conn.execute("UPDATE documents SET required = 1")
    a = next_document(db, "alice", LEASE)
    b = next_document(db, "bob", LEASE)
    assert a["id"] != b["id"]


def test_double_review_documents_go_to_two_reviewers_and_come_first(db, tokens):
    with db.write() as conn:
        conn.execute("UPDATE documents SET required = 1")
        conn.execute("UPDATE documents SET required = 2 WHERE position = 5")
        double_id = conn.execute("SELECT id FROM documents WHERE position = 5").fetchone()[0]
    seen = []
    for _ in range(6):  # alice works down the queue to the double-review document
        doc = next_document(db, "alice", LEASE)
        seen.append(doc["id"])
        save_label(db, "alice", doc["id"], 1, 3)
    assert double_id in seen
    # bob starts: the half-done double-review document is his first
    assert next_document(db, "bob", LEASE)["id"] == double_id
    save_label(db, "bob", double_id, 0, 1)
    # nobody else gets it now, and none of alice's single-review documents go to bob
    assert next_document(db, "bob", LEASE)["id"] not in seen


def test_relabel_and_undo_are_audited_with_previous_values(db, tokens):
    doc = next_document(db, "alice", LEASE)["id"]
    save_label(db, "alice", doc, 1, 4)
    save_label(db, "alice", doc, 0, 2, "on second thought: a chat log")
    with db.read() as conn:
        log = audit.entries(conn, reviewer="alice", doc_id=doc)
    assert [e["action"] for e in log] == ["label", "label"]
    assert log[0]["old"] == {"label": 1, "educational_value": 4, "note": ""}
    assert log[0]["new"] == {"label": 0, "educational_value": 2, "note": "on second thought: a chat log"}
    assert log[1]["old"] is None

    undone = undo_last_label(db, "alice", LEASE)
    assert undone["id"] == doc and undone["label"] == {"label": 1, "educational_value": 4, "note": ""}
    assert undone["undone"] == {"label": 0, "educational_value": 2, "note": "on second thought: a chat log"}
    assert _labels(db, "alice") == {doc: (1, 4, "")}
    undone = undo_last_label(db, "alice", LEASE)
    assert undone["label"] is None and undone["undone"]["educational_value"] == 4 and _labels(db, "alice") == {}
    assert undo_last_label(db, "alice", LEASE) is None  # nothing left

    with db.read() as conn:
        log = audit.entries(conn, reviewer="alice", doc_id=doc)
    undos = [e for e in log if e["action"] == "undo"]
    assert [u["ref"] for u in undos] == [log[-1]["id"], log[-2]["id"]]  # newest undo reversed the oldest label
    assert undos[1]["old"]["label"] == 0 and undos[1]["new"]["label"] == 1
    # the document is back in alice's hands
    assert next_document(db, "alice", LEASE)["id"] == doc


def test_undo_is_per_reviewer(db, tokens):
    a = next_document(db, "alice", LEASE)["id"]
    save_label(db, "alice", a, 1, 5)
    assert undo_last_label(db, "bob", LEASE) is None
    assert _labels(db, "alice") == {a: (1, 5, "")}


def test_skip_hides_a_document_from_that_reviewer_only(db, tokens):
    with db.write() as conn:
        conn.execute("UPDATE documents SET required = 1")
    doc = next_document(db, "alice", LEASE)["id"]
    skip_document(db, "alice", doc)
    assert next_document(db, "alice", LEASE)["id"] != doc
    assert next_document(db, "bob", LEASE)["id"] == doc
    with db.read() as conn:
        assert [e["action"] for e in audit.entries(conn, doc_id=doc)] == ["skip"]


def test_queue_runs_dry_and_progress_counts(db, tokens):
    with db.read() as conn:
        total = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        required = conn.execute("SELECT SUM(required) FROM documents").fetchone()[0]
    labelled = 0
    for reviewer in ("alice", "bob"):
        while (doc := next_document(db, reviewer, LEASE)) is not None:
            save_label(db, reviewer, doc["id"], 1, 3)
            labelled += 1
    assert labelled == required
    assert progress(db, "alice")["done"] == progress(db, "alice")["total"] == total
    assert progress(db, "alice")["mine"] + progress(db, "bob")["mine"] == required


def test_unknown_documents_and_the_append_only_log(db, tokens):
    with pytest.raises(UnknownDocument):
        save_label(db, "alice", "../../etc/passwd", 1, 3)
    with pytest.raises(UnknownDocument):
        skip_document(db, "alice", "nope")
    save_label(db, "alice", next_document(db, "alice", LEASE)["id"], 1, 3)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with db.write() as conn:
            conn.execute("UPDATE audit SET reviewer = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with db.write() as conn:
            conn.execute("DELETE FROM audit")
