"""CachedSpacyTokenizer must return exactly what datatrove's spaCy tokenizer returns."""

from __future__ import annotations

from datatrove.utils.word_tokenizers import SpaCyTokenizer

from pintsize.curate.words import CachedSpacyTokenizer

from .realdata import pydoc_texts, python_rst_files, read, sharegpt_chats


def _texts() -> list[str]:
    texts = [d["text"] for d in pydoc_texts(20)]
    texts += list(sharegpt_chats(30))  # contractions, emoji, URLs, non-Latin scripts
    texts += [read(p) for p in python_rst_files(12)]
    texts += ["", "  leading", "trailing  ", "a  b\t\tc\n\n d", "e.g. U.S.A. don't stop... (see foo())", "x\xa0y\u3000z"]
    return texts


def test_words_equal_spacy_on_real_text():
    reference, fast = SpaCyTokenizer("en"), CachedSpacyTokenizer("en")
    texts = _texts()
    assert sum(map(len, texts)) > 300_000
    for text in texts:
        assert fast.word_tokenize(text) == reference.word_tokenize(text)


def test_sentence_spans_equal_spacy_per_line_and_per_document():
    reference, fast = SpaCyTokenizer("en"), CachedSpacyTokenizer("en")
    texts = _texts()[::4]
    # C4 splits every line into sentences; Gopher-style users split whole documents.
    lines = [line.strip() for t in texts for line in t.splitlines() if len(line.split()) >= 3]
    for text in lines[:1500] + texts:
        assert fast.span_tokenize(text) == reference.span_tokenize(text)
        assert fast.sent_tokenize(text) == reference.sent_tokenize(text)


def test_pickles_without_its_cache():
    import pickle

    tok = CachedSpacyTokenizer()
    tok.word_tokenize("warm the cache up")
    clone = pickle.loads(pickle.dumps(tok))
    assert clone._cache == {} and clone.word_tokenize("don't stop") == ["do", "n't", "stop"]
