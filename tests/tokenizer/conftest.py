"""Tokenizers built once per test session: the Pints tokenizer and a small BPE trained on real text."""

from __future__ import annotations

import json

import pytest

from pintsize.data.pydoc_corpus import pydoc_documents


@pytest.fixture(scope="session")
def pints_dir(tmp_path_factory):
    from pintsize.tokenizer import build_pints_tokenizer

    return build_pints_tokenizer(tmp_path_factory.mktemp("tok") / "pints")


@pytest.fixture(scope="session")
def docs_corpus(tmp_path_factory):
    """The first 120 stdlib documentation pages as a JSONL corpus, in two sources."""
    path = tmp_path_factory.mktemp("corpus") / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, d in enumerate(pydoc_documents(limit=120)):
            f.write(json.dumps({"text": d["text"], "source": "odd" if i % 2 else "even"}) + "\n")
    return path


@pytest.fixture(scope="session")
def bpe_dir(tmp_path_factory, docs_corpus):
    from pintsize.tokenizer.train import train_tokenizer

    return train_tokenizer(docs_corpus, tmp_path_factory.mktemp("tok") / "bpe", vocab_size=1000)
