"""Damaged input is quarantined with its reason, never a crash: lone surrogates, truncated or
fake `.jsonl.gz`, Parquet without the text column; glob sources walk each real file once."""

from __future__ import annotations

import gzip
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.curate.readers import read_shard
from pintsize.curate.records import Removed
from pintsize.curate.shards import plan_shards, source_files


def _read_all(config: DataConfig) -> list:
    return [item for spec in plan_shards(config) for item in read_shard(spec, config.sources[spec.source], config.max_doc_bytes)]


def _jsonl_source(path) -> DataConfig:
    return DataConfig(sources=[SourceConfig(name="s", path=str(path))])


def _records(n: int) -> bytes:
    """Records that compress little, so that a damaged file has many intact chunks before the damage."""
    rng = random.Random(n)
    return b"".join(json.dumps({"text": f"doc {i}: " + " ".join(f"{rng.getrandbits(40):x}" for _ in range(20))}).encode() + b"\n" for i in range(n))


def test_a_lone_surrogate_escape_is_quarantined_and_the_rest_read(tmp_path):
    lines = [
        b'{"text": "before"}',
        b'{"text": "\\ud800 x"}',  # half a surrogate pair: not encodable as UTF-8
        b'{"text": "fine", "title": "\\udfff"}',  # also in another field (it lands in meta)
        b'{"text": "a pair \\ud83d\\ude00 is fine"}',  # a whole pair is one character
    ]
    (tmp_path / "s.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    items = _read_all(_jsonl_source(tmp_path / "s.jsonl"))
    assert [getattr(i, "reason", None) for i in items] == [None, "lone_surrogate", "lone_surrogate", None]
    assert items[1].text == '{"text": "\\ud800 x"}' and items[1].meta == {"path": "s.jsonl", "line": 2}
    assert items[3].text == "a pair \U0001f600 is fine"


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_gzip_keeps_every_record_before_the_damage(tmp_path, cut):
    data = _records(3000)
    blob = gzip.compress(data)
    (tmp_path / "t.jsonl.gz").write_bytes(blob[: int(len(blob) * cut)])
    items = _read_all(_jsonl_source(tmp_path / "t.jsonl.gz"))
    docs, bad = items[:-1], items[-1]
    assert not any(isinstance(i, Removed) for i in docs)
    # every complete line the surviving bytes hold (zlib decodes a prefix exactly)
    survived = zlib_prefix(blob[: int(len(blob) * cut)])
    assert len(docs) == survived.count(b"\n") > 0
    assert [d.text for d in docs] == [json.loads(x)["text"] for x in data.splitlines()[: len(docs)]]
    assert bad.reason == "truncated_gzip" and bad.meta["line"] == len(docs) + 1 and bad.meta["path"] == "t.jsonl.gz"


def zlib_prefix(blob: bytes) -> bytes:
    import zlib

    return zlib.decompressobj(wbits=31).decompress(blob)


def test_a_jsonl_gz_that_is_not_gzip_and_one_corrupt_inside(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(_records(5))  # plain text under a .gz name
    blob = bytearray(gzip.compress(_records(2000)))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)  # zeroed bytes in the middle of the stream
    (tmp_path / "b.jsonl.gz").write_bytes(bytes(blob))
    both = gzip.compress(_records(2)) + gzip.compress(_records(3))  # two members, as `cat` makes
    (tmp_path / "c.jsonl.gz").write_bytes(both)
    items = _read_all(DataConfig(sources=[SourceConfig(name="s", path=str(tmp_path / "*.jsonl.gz"))]))
    removed = [i for i in items if isinstance(i, Removed)]
    assert (removed[0].id, removed[0].reason) == ("s/a.jsonl.gz:1", "not_gzip")
    in_b = [i for i in items if i.id.startswith("s/b.jsonl.gz")]
    # zlib may decode the zeroed bytes into garbage lines (malformed_json) before the checksum fails
    assert in_b[-1].reason == "corrupt_gzip" and "error" in in_b[-1].meta
    assert all(not isinstance(i, Removed) for i in in_b[:900])  # what lies before the damage is kept
    assert [i.id for i in items if i.id.startswith("s/c.")] == [f"s/c.jsonl.gz:{n}" for n in range(1, 6)]


def test_parquet_with_the_wrong_schema_is_one_file_level_reject(tmp_path):
    pq.write_table(pa.table({"body": ["a", "b", "c"], "url": ["x", "y", "z"]}), tmp_path / "p.parquet")
    items = _read_all(DataConfig(sources=[SourceConfig(name="p", path=str(tmp_path / "p.parquet"), format="parquet")]))
    assert len(items) == 1 and items[0].reason == "wrong_schema"
    assert items[0].meta["error"] == "no column 'text'; columns are 'body', 'url'"


def test_glob_does_not_follow_directory_links(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.jsonl").write_bytes(_records(1))
    (d / "sub" / "b.jsonl").write_bytes(_records(1))
    (d / ".hidden.jsonl").write_bytes(_records(1))
    os.symlink(".", d / "sub" / "loop1")  # two self-links hung glob.glob's `**`
    os.symlink(".", d / "sub" / "loop2")
    os.symlink("sub", d / "link")
    os.symlink("a.jsonl", d / "alias.jsonl")
    expected = [d / "a.jsonl", d / "sub" / "b.jsonl"]
    assert source_files(SourceConfig(name="s", path=str(d / "**" / "*.jsonl"))) == expected
    assert source_files(SourceConfig(name="s", path=str(d / "*" / "*.jsonl"))) == [d / "sub" / "b.jsonl"]
    assert source_files(SourceConfig(name="s", path=str(d))) == [d / ".hidden.jsonl", *expected]


def test_curate_goes_on_past_damaged_files_and_points_to_the_rejects(tmp_path):
    from typer.testing import CliRunner

    from pintsize.cli import app

    blob = gzip.compress(_records(400))
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "t.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "raw" / "u.jsonl").write_bytes(b'{"text": "\\ud800 x"}\n' + _records(3))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "e.jsonl").write_bytes(b"")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[run]\nname = "damaged"\n[data]\n[data.language]\nenabled = false\n[data.heuristics]\nenabled = false\n'
        f'[[data.sources]]\nname = "raw"\npath = "{tmp_path / "raw" / "*"}"\n'
        f'[[data.sources]]\nname = "nothing"\npath = "{tmp_path / "empty"}"\n'
    )
    out = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["curate", str(recipe), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "source 'nothing' holds no records" in text
    assert "2 records were quarantined" in text and str(out / "rejects") in text
    stats = json.loads((out / "stats.json").read_text())["sources"]["raw"]
    assert stats["quarantined"] == 2 and stats["input"] == stats["kept"] + stats["filtered"] + 2
    assert stats["input"] > 100  # the records before the damage
