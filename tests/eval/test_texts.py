"""Held-out text: JSONL, Parquet, text files, corpus artifacts and pack shards; broken records are
counted and named by file and line, never fatal; read = kept + filtered + quarantined."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.artifacts import ArtifactWriter
from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.errors import DataError
from pintsize.eval.texts import read_texts, texts_from_shards

DOCS = [d["text"][:2000] for d in pydoc_documents(limit=5)]


def test_jsonl_with_broken_records(tmp_path):
    path = tmp_path / "held.jsonl"
    lines = [json.dumps({"text": DOCS[0]}), "{not json", json.dumps({"title": "no text"}), json.dumps({"text": "   "}),
             json.dumps({"text": 42}), "", json.dumps({"text": DOCS[1]})]
    path.write_text("\n".join(lines) + "\n")
    texts, stats = read_texts(path)
    assert texts == DOCS[:2]
    assert (stats.kept, stats.filtered, stats.quarantined, stats.read) == (2, 1, 3, 6)
    assert stats.problems[0].startswith(f"{path}:2: not valid JSON")
    assert stats.problems[1] == f"{path}:3: no 'text' field"
    assert stats.problems[2] == f"{path}:5: 'text' is not a string (got int)"


def test_parquet_text_files_and_a_corpus_artifact(tmp_path):
    pq.write_table(pa.table({"id": ["a", "b"], "text": DOCS[:2]}), tmp_path / "docs.parquet")
    assert read_texts(tmp_path / "docs.parquet")[0] == DOCS[:2]
    folder = tmp_path / "txt"
    folder.mkdir()
    for i, d in enumerate(DOCS[:3]):
        (folder / f"{i}.txt").write_text(d)
    (folder / "notes.bin").write_bytes(b"\0\1")  # not a text format: ignored
    assert read_texts(folder)[0] == DOCS[:3]
    with ArtifactWriter(tmp_path / "corpus", "curate", {}) as art:
        (art.dir / "data").mkdir()
        pq.write_table(pa.table({"text": DOCS[:4]}), art.dir / "data" / "part-00000.parquet")
        (art.dir / "stats.json").write_text("{}")
    texts, stats = read_texts(tmp_path / "corpus", limit=3)
    assert texts == DOCS[:3] and stats.kept == 3


def test_unusable_inputs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_texts(tmp_path / "missing.jsonl")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="no 'text' column"):
        read_texts(tmp_path / "bad.parquet")
    (tmp_path / "junk.jsonl").write_text("{oops\n[1, 2]\n")
    with pytest.raises(DataError, match="no usable documents among 2 records"):
        read_texts(tmp_path / "junk.jsonl")


def test_pack_shards_decode_back_to_their_text(tmp_path, tokenizer_dir):
    from pintsize.data.config import PackConfig
    from pintsize.data.pack import pack_corpus

    with ArtifactWriter(tmp_path / "corpus", "curate", {}) as art:
        (art.dir / "data").mkdir()
        texts = [d["text"][:3000] for d in pydoc_documents(limit=40)]
        pq.write_table(pa.table({"id": [str(i) for i in range(40)], "text": texts, "source": ["python-docs"] * 40}),
                       art.dir / "data" / "part-00000.parquet")
    shards = pack_corpus(tmp_path / "corpus", tokenizer_dir, tmp_path / "shards", PackConfig(val_fraction=0.2), workers=1, progress=False)
    val, stats = texts_from_shards(shards, "val")
    assert stats.kept == len(val) > 0
    assert all(t in texts for t in val)  # the Pints tokenizer decodes this text back exactly
