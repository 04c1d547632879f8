"""Reading corpora: which files are read, and the errors for input that cannot be read at all."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.data.records import Broken, Record, corpus_files, iter_texts, read_corpus
from pintsize.errors import DataError


def test_folders_are_read_recursively_in_name_order(tmp_path, write_jsonl, docs):
    (tmp_path / "b").mkdir()
    write_jsonl(tmp_path / "b" / "two.jsonl", [{"text": docs[1]["text"]}])
    write_jsonl(tmp_path / "a.jsonl", [{"text": docs[0]["text"], "source": "s"}])
    pq.write_table(pa.table({"text": [docs[2]["text"]]}), tmp_path / "c.parquet")
    (tmp_path / "notes.txt").write_text("not a corpus file")
    assert [p.name for p in corpus_files(tmp_path)] == ["a.jsonl", "two.jsonl", "c.parquet"]
    records = list(read_corpus(tmp_path))
    assert [(r.text, r.source) for r in records] == [(docs[0]["text"], "s"), (docs[1]["text"], "two"), (docs[2]["text"], "c")]
    assert records[2].where == f"{tmp_path / 'c.parquet'}:row 0"


def test_unreadable_corpora_are_errors_that_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no .parquet or .jsonl files"):
        corpus_files(tmp_path)
    with pytest.raises(DataError, match="no such corpus"):
        corpus_files(tmp_path / "missing")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    with pytest.raises(DataError, match=r"ints\.parquet: column 'text' has type int64"):
        list(read_corpus(tmp_path / "ints.parquet"))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"junk\.parquet: not a readable Parquet file"):
        list(read_corpus(tmp_path / "junk.parquet"))


def test_invalid_utf8_in_parquet_is_replaced_and_flagged(tmp_path):
    pq.write_table(pa.table({"text": pa.array([b"ok", b"bad \xff byte"], type=pa.binary())}), tmp_path / "b.parquet")
    records = list(read_corpus(tmp_path / "b.parquet"))
    assert records == [Record("ok", "b", f"{tmp_path / 'b.parquet'}:row 0"), Record("bad \ufffd byte", "b", f"{tmp_path / 'b.parquet'}:row 1", True)]


def test_a_later_record_without_text_is_quarantined_not_fatal(tmp_path, write_jsonl):
    write_jsonl(tmp_path / "x.jsonl", [{"text": "first"}, {"body": "no text"}, ["a", "list"]])
    records = list(read_corpus(tmp_path / "x.jsonl"))
    assert records[1:] == [Broken(f"{tmp_path / 'x.jsonl'}:line 2", "no 'text' field"), Broken(f"{tmp_path / 'x.jsonl'}:line 3", "not a JSON object (a list)")]


def test_iter_texts_caps_each_source(corpus, docs):
    texts = list(iter_texts(corpus, max_docs_per_source=5))
    assert sorted({s for _, s in texts}) == ["guide", "manual", "reference"]
    assert all(sum(1 for _, s in texts if s == name) == 5 for name in ("guide", "manual", "reference"))
