"""Readers: every record becomes a document or a quarantined record with its reason and place;
shards cover a file exactly once whatever its size."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.curate.readers import read_shard, strip_pydoc_gutter
from pintsize.curate.records import Removed
from pintsize.curate.shards import plan_shards
from pintsize.errors import DataError

from .realdata import pydoc_texts


def _read_all(config: DataConfig) -> list:
    return [item for spec in plan_shards(config) for item in read_shard(spec, config.sources[spec.source], config.max_doc_bytes)]


def _reasons(items) -> dict[str, str]:
    return {i.id: i.reason for i in items if isinstance(i, Removed)}


def test_jsonl_bad_lines_are_quarantined_with_reason_and_line(tmp_path):
    good = [{"text": d["text"][:1000]} for d in pydoc_texts(2)]
    lines = [
        json.dumps({"text": good[0]["text"], "id": "mine-1", "lang": "en"}).encode(),
        b'{"text": "unterminated',  # line 2
        b"",  # a blank line is not a record
        json.dumps({"body": "no text field"}).encode(),  # line 4
        json.dumps({"text": "   "}).encode(),  # line 5
        b'{"text": "caf\xe9"}',  # line 6: Latin-1, not UTF-8
        json.dumps([1, 2]).encode(),  # line 7
        json.dumps({"text": 42}).encode(),  # line 8
        json.dumps({"text": "x" * 2_000}).encode(),  # line 9: over max_doc_bytes below
        json.dumps({"text": good[1]["text"]}).encode(),  # line 10
        json.dumps({"text": None}).encode(),  # line 11: there, but null
    ]
    (tmp_path / "raw.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    config = DataConfig(sources=[SourceConfig(name="web", path=str(tmp_path / "raw.jsonl"))], max_doc_bytes=1_500)
    items = _read_all(config)
    assert _reasons(items) == {
        "web/raw.jsonl:2": "malformed_json",
        "web/raw.jsonl:4": "missing_text_field",
        "web/raw.jsonl:5": "empty",
        "web/raw.jsonl:6": "invalid_utf8",
        "web/raw.jsonl:7": "not_an_object",
        "web/raw.jsonl:8": "text_not_a_string",
        "web/raw.jsonl:9": "too_large",
        "web/raw.jsonl:11": "text_not_a_string",
    }
    docs = [i for i in items if not isinstance(i, Removed)]
    assert [d.id for d in docs] == ["web/raw.jsonl:1", "web/raw.jsonl:10"]
    assert docs[0].metadata == {"source": "web", "meta": {"id": "mine-1", "lang": "en"}}
    bad = next(i for i in items if isinstance(i, Removed) and i.reason == "malformed_json")
    assert bad.meta["path"] == "raw.jsonl" and bad.meta["line"] == 2 and "error" in bad.meta
    assert bad.text == '{"text": "unterminated'  # recoverable as it was


def test_default_size_limit_is_10_mb(tmp_path):
    big = json.dumps({"text": "word " * 2_100_000})  # 10.5 MB
    (tmp_path / "big.jsonl").write_text(big + "\n" + json.dumps({"text": "small doc"}) + "\n")
    items = _read_all(DataConfig(sources=[SourceConfig(name="s", path=str(tmp_path / "big.jsonl"))]))
    assert [getattr(i, "reason", None) for i in items] == ["too_large", None]
    assert len(items[0].text) == 65_536 and items[0].meta["truncated"]


def test_text_directory_quarantines_binary_undecodable_and_empty_files(tmp_path):
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text(pydoc_texts(1)[0]["text"])
    (d / "sub" / "b.md").write_text("# Title\n\nSome text.")
    (d / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (d / "latin1.txt").write_bytes("na\xefve caf\xe9".encode("latin-1"))
    (d / "blank.txt").write_text("\n  \n")
    config = DataConfig(sources=[SourceConfig(name="d", path=str(d), format="text")])
    items = _read_all(config)
    assert _reasons(items) == {"d/logo.png": "binary", "d/latin1.txt": "invalid_utf8", "d/blank.txt": "empty"}
    assert sorted(i.id for i in items if not isinstance(i, Removed)) == ["d/a.txt", "d/sub/b.md"]


def test_glob_sources_and_parquet_rows(tmp_path):
    texts = [d["text"] for d in pydoc_texts(5)]
    table = pa.table({"text": texts[:3] + [None, ""], "url": [f"u{i}" for i in range(5)]})
    pq.write_table(table, tmp_path / "part-0.parquet", row_group_size=2)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    config = DataConfig(sources=[SourceConfig(name="p", path=str(tmp_path / "*.parquet"), format="parquet")], shard_mb=0.001)
    items = _read_all(config)
    assert _reasons(items) == {"p/broken.parquet": "unreadable_file", "p/part-0.parquet#3": "text_not_a_string", "p/part-0.parquet#4": "empty"}
    docs = [i for i in items if not isinstance(i, Removed)]
    assert [d.text for d in docs] == texts[:3] and docs[2].metadata["meta"] == {"url": "u2"}


def test_jsonl_shards_cover_every_line_once(tmp_path):
    records = [{"text": d["text"]} for d in pydoc_texts(40)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = DataConfig(sources=[SourceConfig(name="s", path=str(path))], shard_mb=0.05)
    shards = plan_shards(config)
    assert len(shards) > 5
    items = _read_all(config)
    assert [i.id for i in items] == [f"s/docs.jsonl:{n}" for n in range(1, 41)]
    assert [i.text for i in items] == [r["text"] for r in records]


def test_a_source_that_matches_nothing_is_a_clear_error(tmp_path):
    config = DataConfig(sources=[SourceConfig(name="s", path=str(tmp_path / "*.jsonl"))])
    with pytest.raises(DataError, match=r"source 's': no files \(.jsonl"):
        plan_shards(config)


def test_pydoc_source_drops_the_class_gutter():
    page = next(d["text"] for d in pydoc_texts() if "\n     |  " in d["text"])
    clean = strip_pydoc_gutter(page)
    assert "\n     |  " not in clean and "-" * 70 not in clean
    assert [w for w in clean.split() if w != "|" and set(w) != {"-"}] == [
        w for w in page.split() if w != "|" and set(w) != {"-"}
    ]
    items = _read_all(DataConfig(shard_mb=4))
    assert len(items) == len(pydoc_texts(skip_codecs=False)) and items[0].id.startswith("python-docs/")
