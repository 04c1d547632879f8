"""Packing: shards decode back to the input documents, framing and counts are exact, the
shuffle and split are deterministic and by document, and bad input is counted, not fatal."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from pintsize.data.config import PackConfig
from pintsize.data.pack import pack_corpus
from pintsize.data.shards import ShardSplit, read_meta
from pintsize.errors import DataError
from pintsize.tokenizer import load_tokenizer


def _documents(shards, split):
    s = ShardSplit.open(shards, split)
    return [np.array(s.document(i)) for i in range(s.num_documents)], [s.source_names[j] for j in s.sources]


def test_pack_then_load_gives_the_original_documents(shards, docs, bpe):
    tok = load_tokenizer(bpe)
    meta = read_meta(shards)
    decoded = []
    for split in ("train", "val"):
        split_docs, sources = _documents(shards, split)
        for d, src in zip(split_docs, sources):
            assert d[0] == meta["bos_id"] and d[-1] == meta["eos_id"]  # BOS + text + EOS
            assert meta["bos_id"] not in d[1:-1] and meta["eos_id"] not in d[1:-1]
            decoded.append((tok.decode(d[1:-1]), src))
    # A byte-level BPE is lossless, so decoding gives back every document, each exactly once.
    assert Counter(decoded) == Counter((d["text"], d["source"]) for d in docs)


def test_no_padding_and_exact_token_counts(shards, docs, bpe):
    tok = load_tokenizer(bpe)
    expected = Counter()
    for d in docs:
        expected[d["source"]] += len(tok(d["text"], add_special_tokens=False).input_ids) + 2
    meta = read_meta(shards)
    got = Counter()
    for split in ("train", "val"):
        info = meta["splits"][split]
        on_disk = sum((shards / split / s["file"]).stat().st_size for s in info["shards"]) // 2  # uint16
        assert on_disk == info["tokens"] == sum(c["tokens"] for c in info["sources"].values())
        for source, c in info["sources"].items():
            got[source] += c["tokens"]
    assert got == expected
    assert meta["dtype"] == "uint16"
    assert meta["input"] == {"records": len(docs), "empty": 0, "quarantined": 0, "utf8_replaced": 0, "kept": len(docs)}


def test_split_is_by_document_and_the_shuffle_is_global(shards, docs, pack_config):
    train, _ = _documents(shards, "train")
    val, _ = _documents(shards, "val")
    assert len(val) == round(pack_config.val_fraction * len(docs)) and len(train) + len(val) == len(docs)
    key = lambda d: d.tobytes()  # noqa: E731
    assert not {key(d) for d in train} & {key(d) for d in val}
    # Shuffled: the packed order is not the input order (documents alternate sources in the input).
    meta = read_meta(shards)
    assert len(meta["splits"]["train"]["shards"]) > 1
    split = ShardSplit.open(shards, "train")
    assert not np.array_equal(split.sources[:30], np.sort(split.sources[:30]))


def test_same_seed_same_bytes_other_seed_other_order(tmp_path, corpus, bpe, shards, pack_config):
    again = pack_corpus(corpus, bpe, tmp_path / "again", pack_config, workers=1, progress=False)
    for f in sorted(p.relative_to(shards) for p in shards.rglob("*") if p.is_file() and p.name != "manifest.json"):
        assert (again / f).read_bytes() == (shards / f).read_bytes(), f  # and workers=1 vs 2 agree
    other = pack_corpus(corpus, bpe, tmp_path / "other", pack_config.model_copy(update={"seed": 8}), progress=False)
    assert (other / "train" / "documents.npy").read_bytes() != (shards / "train" / "documents.npy").read_bytes()


def test_bad_records_are_counted_and_quarantined(tmp_path, bpe, docs):
    good = [docs[0]["text"], docs[1]["text"]]
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"text": good[0], "source": "a"}).encode(),
        json.dumps({"text": "   \n  ", "source": "a"}).encode(),  # empty
        b"{not json",  # broken
        json.dumps({"text": "caf\xe9 ok", "source": "b"}).encode().replace(b"\\u00e9", b"\xe9\xff"),  # bad UTF-8
        json.dumps({"title": "no text"}).encode(),  # broken: no text
        json.dumps({"text": 42}).encode(),  # broken: not a string
        json.dumps({"text": "lone \ud800 surrogate"}).encode(),  # replaced
        json.dumps({"text": good[1]}).encode(),  # source defaults to the file stem
        b"",
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = pack_corpus(path, bpe, tmp_path / "out", PackConfig(val_fraction=0.0), progress=False)
    meta = read_meta(out)
    i = meta["input"]
    assert i == {"records": 8, "empty": 1, "quarantined": 3, "utf8_replaced": 2, "kept": 4}
    assert i["records"] == i["kept"] + i["empty"] + i["quarantined"]
    assert meta["splits"]["train"]["sources"].keys() == {"a", "b", "mixed"}
    quarantined = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [q["where"] for q in quarantined] == [f"{path}:line {n}" for n in (3, 5, 6)]
    tok = load_tokenizer(bpe)
    texts = {tok.decode(np.array(d[1:-1])) for d in _documents(out, "train")[0]}
    assert "caf\ufffd\ufffd ok" in texts and "lone \ufffd surrogate" in texts


def test_missing_text_is_an_error_naming_the_file(tmp_path, bpe, write_jsonl):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["some text"]}), tmp_path / "part-0.parquet")
    with pytest.raises(DataError, match=r"part-0\.parquet: no 'text' column \(columns: body\)"):
        pack_corpus(tmp_path / "part-0.parquet", bpe, tmp_path / "out", PackConfig(), progress=False)
    write_jsonl(tmp_path / "notes.jsonl", [{"body": "x"}])
    with pytest.raises(DataError, match=r"notes\.jsonl:line 1: no 'text' field"):
        pack_corpus(tmp_path / "notes.jsonl", bpe, tmp_path / "out", PackConfig(), progress=False)
    assert not (tmp_path / "out").exists()


def test_corpus_artifact_parquet_with_missing_source(tmp_path, bpe, docs):
    """A curate artifact: data/*.parquet (rejects/ is not read); a null source falls back to the file stem."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pintsize.artifacts import ArtifactWriter

    art = tmp_path / "corpus"
    with ArtifactWriter(art, "curate", {}) as w:
        (w.dir / "data").mkdir()
        (w.dir / "rejects").mkdir()
        texts = [d["text"] for d in docs[:6]]
        sources = ["web", None, "web", "web", None, "web"]
        table = pa.table({"id": list("abcdef"), "text": texts, "source": sources, "meta": ["{}"] * 6})
        pq.write_table(table, w.dir / "data" / "part-0.parquet", row_group_size=2)
        pq.write_table(pa.table({"text": ["rejected"], "source": ["web"]}), w.dir / "rejects" / "r.parquet")
    out = pack_corpus(art, bpe, tmp_path / "out", PackConfig(val_fraction=0.0), progress=False)
    meta = read_meta(out)
    assert {k: v["documents"] for k, v in meta["splits"]["train"]["sources"].items()} == {"web": 4, "part-0": 2}


def test_vocab_beyond_uint16_is_stored_as_uint32(tmp_path, write_jsonl):
    """A word-level tokenizer with 70,000 entries: ids past 65,535 must survive packing."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(70_000)]
    backend = Tokenizer(models.WordLevel({"<s>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    backend.save(str(tok_dir / "tokenizer.json"))
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>"}))
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": "w0 w69999 w65536"}, {"text": "w70 w65535"}])
    out = pack_corpus(corpus, tok_dir, tmp_path / "out", PackConfig(val_fraction=0.0), progress=False)
    meta = read_meta(out)
    assert meta["dtype"] == "uint32" and meta["vocab_size"] == 70_003
    got = sorted(_documents(out, "train")[0], key=len)
    assert [d.tolist() for d in got] == [[0, 73, 65538, 1], [0, 3, 70002, 65539, 1]]
