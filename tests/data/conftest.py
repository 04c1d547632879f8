"""Shared data for the data tests: real documents (the stdlib docs), a small BPE trained on them,
and one packed shards directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pintsize.data.config import PackConfig
from pintsize.data.pydoc_corpus import pydoc_documents


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="session")
def write_jsonl():
    """write_jsonl(path, records) -> path"""
    return _write_jsonl


@pytest.fixture(scope="session")
def docs() -> list[dict]:
    """200 stdlib documentation pages in three sources of different sizes. The ~100 codec
    modules (encodings.*) are left out: their pages are near-copies of each other."""
    pages = [d for d in pydoc_documents() if not d["meta"]["module"].startswith("encodings.")][:200]
    names = ("manual", "reference", "guide")
    return [{"text": d["text"], "source": names[i % 3 if i % 5 else 0]} for i, d in enumerate(pages)]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, docs) -> Path:
    return _write_jsonl(tmp_path_factory.mktemp("corpus") / "docs.jsonl", docs)


@pytest.fixture(scope="session")
def bpe(tmp_path_factory, corpus) -> Path:
    from pintsize.tokenizer.train import train_tokenizer

    return train_tokenizer(corpus, tmp_path_factory.mktemp("tok") / "bpe", vocab_size=1024, max_docs_per_source=30)


@pytest.fixture(scope="session")
def chat_bpe(bpe):
    """The trained BPE loaded as a transformers tokenizer (with the ChatML template)."""
    from pintsize.tokenizer import load_tokenizer

    return load_tokenizer(bpe)


@pytest.fixture(scope="session")
def pack_config() -> PackConfig:
    """Small shards and units, so that a few MB of text make several of each."""
    return PackConfig(val_fraction=0.1, seed=7, shard_tokens=60_000, unit_bytes=300_000)


@pytest.fixture(scope="session")
def shards(tmp_path_factory, corpus, bpe, pack_config) -> Path:
    from pintsize.data.pack import pack_corpus

    return pack_corpus(corpus, bpe, tmp_path_factory.mktemp("pack") / "shards", pack_config, workers=2, progress=False)
