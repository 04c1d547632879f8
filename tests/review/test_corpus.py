import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.errors import DataError
from pintsize.review.config import QueueConfig
from pintsize.review.corpus import read_documents, read_index
from pintsize.review.enqueue import enqueue
from pintsize.review.storage import ReviewDB


def test_index_and_documents_of_a_real_corpus(corpus, real_records):
    index = read_index(corpus, "quality_score")
    assert index.ids == [r["id"] for r in real_records]
    assert index.broken == {}
    assert sorted(set(index.sources)) == ["python-docs", "sharegpt"]
    assert index.scores is not None and len(index.scores) == len(real_records)
    assert read_index(corpus).scores is None

    wanted = {real_records[0]["id"], real_records[-1]["id"]}
    docs = read_documents(corpus, wanted)
    assert set(docs) == wanted
    first = docs[real_records[0]["id"]]
    assert first.text == real_records[0]["text"] and first.meta == real_records[0]["meta"]
    assert first.scores["quality_score"] == pytest.approx(index.scores[0])


def test_broken_records_are_counted_and_left_out(tmp_path, real_records):
    good = real_records[:5]
    broken = [
        {**real_records[5], "text": None},
        {**real_records[6], "id": ""},
        {**real_records[7], "meta": "not json"},
        {**real_records[8], "meta": [1, 2]},
        dict(real_records[0]),  # the same id again
    ]
    records = good + broken
    corpus = tmp_path / "corpus"
    columns = {k: [r[k] for r in records] for k in ("id", "text", "source")}
    columns["meta"] = [r["meta"] if isinstance(r["meta"], str) else json.dumps(r["meta"]) for r in records]
    (corpus / "data").mkdir(parents=True)
    pq.write_table(pa.table(columns), corpus / "data" / "part-0.parquet")

    index = read_index(corpus)
    assert index.ids == [r["id"] for r in good]
    assert index.broken == {"empty text": 1, "empty id": 1, "meta is not JSON": 1, "meta is not a JSON object": 1, "repeated id": 1}
    assert len(index.ids) + sum(index.broken.values()) == len(records)

    db = ReviewDB(tmp_path / "r.sqlite")
    result = enqueue(db, corpus, QueueConfig(size=100))
    assert result.added == 5 and result.broken == index.broken


def test_unreadable_corpora_are_named_in_the_error(tmp_path):
    with pytest.raises(DataError, match="not a corpus directory"):
        read_index(tmp_path / "nowhere")
    (tmp_path / "empty" / "data").mkdir(parents=True)
    with pytest.raises(DataError, match="no data/\\*.parquet"):
        read_index(tmp_path / "empty")

    bad = tmp_path / "bad" / "data"
    bad.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "text": ["t"], "source": ["s"]}), bad / "part-0.parquet")
    with pytest.raises(DataError, match=r"part-0.parquet: missing column 'meta'"):
        read_index(tmp_path / "bad")
    pq.write_table(pa.table({"id": [1], "text": ["t"], "source": ["s"], "meta": ["{}"]}), bad / "part-0.parquet")
    with pytest.raises(DataError, match=r"part-0.parquet: column 'id' is int64, expected string"):
        read_index(tmp_path / "bad")
    (bad / "part-0.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="part-0.parquet: not a readable Parquet file"):
        read_index(tmp_path / "bad")


def test_enqueue_appends_without_repeating_documents(tmp_path, corpus, real_records):
    db = ReviewDB(tmp_path / "r.sqlite")
    first = enqueue(db, corpus, QueueConfig(strategy="stratified", size=10))
    assert first.by_source == {"python-docs": 5, "sharegpt": 5}
    second = enqueue(db, corpus, QueueConfig(strategy="threshold", size=100, threshold=0.5))
    assert second.added == len(real_records) - 10
    with db.read() as conn:
        rows = conn.execute("SELECT id, position, strategy FROM documents ORDER BY position").fetchall()
    assert len({r["id"] for r in rows}) == len(rows) == len(real_records)
    assert [r["position"] for r in rows] == list(range(len(rows)))
    assert [r["strategy"] for r in rows] == ["stratified"] * 10 + ["threshold"] * (len(rows) - 10)


def test_enqueue_records_itself_in_the_audit_log(tmp_path, corpus):
    db = ReviewDB(tmp_path / "r.sqlite")
    enqueue(db, corpus, QueueConfig(size=4))
    with db.read() as conn:
        entry = conn.execute("SELECT * FROM audit WHERE action = 'queue-added'").fetchone()
    assert json.loads(entry["new"])["added"] == 4
    assert json.loads(entry["new"])["corpus"] == str(corpus.resolve())
