import json

from pintsize.review.export import export_labels
from pintsize.review.labeling import save_label

FIELDS = {"text", "label", "id", "source", "educational_value", "reviewer", "note"}


def _docs(db):
    with db.read() as conn:
        return {r["id"]: r for r in conn.execute("SELECT id, text, source FROM documents ORDER BY position")}


def test_consensus_export_is_the_quality_trainers_format(db, tokens, tmp_path):
    docs = _docs(db)
    a, b, c = list(docs)[:3]
    save_label(db, "alice", a, 1, 3, "clear")
    save_label(db, "bob", a, 1, 4, "good examples")
    save_label(db, "alice", b, 1, 5)
    save_label(db, "bob", b, 0, 1)  # disagreement: left out
    save_label(db, "bob", c, 0, 0)

    out = tmp_path / "labels.jsonl"
    result = export_labels(db, out, "consensus")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.labelled_documents == 3 and result.disagreements == 1
    assert records == result.records
    assert all(set(r) == FIELDS for r in records)
    first, second = records
    assert first == {
        "text": docs[a]["text"],
        "label": 1,
        "id": a,
        "source": docs[a]["source"],
        "educational_value": 4,  # mean 3.5, rounded half up
        "reviewer": "alice,bob",
        "note": "clear | good examples",
    }
    assert (second["id"], second["label"], second["educational_value"], second["reviewer"]) == (c, 0, 0, "bob")


def test_all_mode_writes_every_label_and_rewrites_atomically(db, tokens, tmp_path):
    docs = list(_docs(db))
    save_label(db, "alice", docs[0], 1, 5)
    save_label(db, "bob", docs[0], 0, 1)
    out = tmp_path / "export" / "labels.jsonl"
    out.parent.mkdir()
    out.write_text("old content\n")
    export_labels(db, out, "all")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["reviewer"], r["label"], r["educational_value"]) for r in records] == [("alice", 1, 5), ("bob", 0, 1)]
    assert [p.name for p in out.parent.iterdir()] == ["labels.jsonl"]  # no temporary left behind
