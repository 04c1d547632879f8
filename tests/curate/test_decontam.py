"""Decontamination: 13-gram hashes find exactly the windows a brute-force comparison finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pintsize.curate.decontam import DecontamIndex, cut_spans, words_with_spans
from pintsize.errors import DataError

from .realdata import pydoc_texts

@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory) -> Path:
    """Real benchmark files when the eval data folder is found, else a stand-in made of stdlib
    documentation pages in the same formats (JSONL records, one with nested fields; a text file).
    The stand-in takes text from the middle of each page: every page opens with the same pydoc
    boilerplate, which would otherwise match the test documents' own openings."""
    from pintsize.eval.harness import find_eval_data

    shared = find_eval_data()
    if shared is not None and (shared / "gsm8k" / "test.jsonl").is_file():
        return shared
    d = tmp_path_factory.mktemp("eval")
    (d / "gsm8k").mkdir()
    used = {g for p in pydoc_texts(5) for g in _ngrams(words_with_spans(p["text"])[0], 13)}  # the tests' own pages
    pages = [
        p for p in pydoc_texts(60)[20:]
        if len(p["text"]) > 4000 and not used & _ngrams(words_with_spans(p["text"][2000:4000])[0], 13)
    ]
    with open(d / "gsm8k" / "test.jsonl", "w") as f:
        for i, p in enumerate(pages):
            answer = p["text"][2600:2900]
            f.write(json.dumps({"question": p["text"][2000:2600], "answer": {"steps": [answer]} if i else answer}) + "\n")
    (d / "notes.txt").write_text(pages[0]["text"][3000:4000])
    return d


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _brute_force(words: list[str], eval_words: list[list[str]], n: int) -> set[int]:
    grams = {tuple(w[i : i + n]) for w in eval_words for i in range(len(w) - n + 1)}
    return {i for i in range(len(words) - n + 1) if tuple(words[i : i + n]) in grams}


def _eval_records(eval_dir: Path) -> list[str]:
    first = json.loads((eval_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[0])
    return ["\n".join(str(v) for v in first.values())]


def test_matches_equal_a_brute_force_comparison(eval_dir):
    index = DecontamIndex.build([str(eval_dir)], 13)
    assert "gsm8k/test" in index.names
    leaked = _eval_records(eval_dir)[0]
    doc = pydoc_texts(3)[2]["text"][:3000] + "\n\n" + leaked + "\n\n" + pydoc_texts(3)[1]["text"][:2000]
    words, _ = words_with_spans(doc)
    starts, masks = index.matches(words)
    eval_words, _ = words_with_spans(leaked)
    assert set(starts.tolist()) == _brute_force(words, [eval_words], 13) != set()
    assert index.set_counts(masks)["gsm8k/test"] == len(starts)
    clean = pydoc_texts(5)[4]["text"]
    assert len(index.matches(words_with_spans(clean)[0])[0]) == 0


def test_cut_removes_the_leak_and_keeps_the_rest(eval_dir):
    index = DecontamIndex.build([str(eval_dir / "gsm8k")], 13)
    leaked = _eval_records(eval_dir)[0]
    before, after = pydoc_texts(3)[2]["text"][:3000], pydoc_texts(3)[1]["text"][:2000]
    doc = before + "\n\n" + leaked + "\n\n" + after
    words, spans = words_with_spans(doc)
    starts, _ = index.matches(words)
    cut = cut_spans(doc, spans, starts, 13, margin=0)
    assert len(index.matches(words_with_spans(cut)[0])[0]) == 0
    assert before[:1000] in cut and after[-1000:] in cut


def test_save_load_and_errors(tmp_path, eval_dir):
    index = DecontamIndex.build([str(eval_dir / "gsm8k")], 13)
    index.save(tmp_path / "i.npz")
    again = DecontamIndex.load(tmp_path / "i.npz")
    assert again.names == index.names and (again.hashes == index.hashes).all()
    with pytest.raises(DataError, match="no such file"):
        DecontamIndex.build([str(tmp_path / "missing")], 13)
    (tmp_path / "bad.jsonl").write_text('{"q": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: not JSON"):
        DecontamIndex.build([str(tmp_path / "bad.jsonl")], 13)
