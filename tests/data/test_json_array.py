"""Streaming a JSON array: every element in order, a truncated last element dropped, tiny chunks fine."""

import io
import json

from pintsize.data.json_array import iter_json_array
from pintsize.data.pydoc_corpus import pydoc_documents


def test_elements_equal_json_load_even_with_tiny_chunks():
    docs = [{"id": d["id"], "text": d["text"][:500]} for d in pydoc_documents(limit=20)]
    text = json.dumps(docs, indent=1)
    for chunk in (7, 64, 1 << 20):
        assert list(iter_json_array(io.StringIO(text), chunk_chars=chunk)) == docs


def test_a_truncated_file_yields_the_complete_elements():
    docs = [{"n": i, "s": "x" * i} for i in range(50)]
    text = json.dumps(docs)
    cut = text[: text.index('{"n": 40')] + '{"n": 40, "s": "xx'
    assert list(iter_json_array(io.StringIO(cut), chunk_chars=32)) == docs[:40]
    assert list(iter_json_array(io.StringIO("[]"))) == []
