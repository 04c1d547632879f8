"""Dedup: exact keys on normalized text; MinHash LSH whose recall follows the banding curve
measured against true Jaccard similarities; deterministic keepers."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pintsize.curate.config import DedupConfig
from pintsize.curate.dedup import DedupKeys, exact_duplicates, near_duplicates
from pintsize.curate.normalize import normalize_whitespace
from pintsize.curate.readers import strip_pydoc_gutter

from .realdata import pydoc_texts


def _shingles(simple: str, n: int = 5) -> set:
    w = simple.split()
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = _shingles(a), _shingles(b)
    return len(x & y) / len(x | y)


def _edit(text: str, share: float, rng: random.Random, vocabulary: list[str]) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), int(share * len(words))):
        words[i] = rng.choice(vocabulary)
    return " ".join(words)


def _find(keys: DedupKeys, texts: list[str]) -> np.ndarray:
    bands = np.stack([keys.band_keys(keys.simplify(t)) for t in texts])
    return near_duplicates(bands, np.ones(len(texts), dtype=bool), None)


@pytest.mark.parametrize("bands,rows,edit_share", [(14, 8, 0.05), (20, 3, 0.05)])
def test_recall_follows_the_banding_curve_of_measured_jaccard(bands, rows, edit_share):
    rng = random.Random(0)
    originals = [d["text"] for d in pydoc_texts(200) if 400 <= len(d["text"].split()) <= 3000][:80]
    vocabulary = sorted({w for t in originals for w in t.split()})
    copies = [_edit(t, edit_share, rng, vocabulary) for t in originals]
    keys = DedupKeys(DedupConfig(bands=bands, rows=rows))
    near = _find(keys, originals + copies)
    found = near[len(originals) :] >= 0
    j = np.array([jaccard(keys.simplify(a), keys.simplify(b)) for a, b in zip(originals, copies)])
    p = 1 - (1 - j**rows) ** bands  # chance that at least one band of the pair agrees
    expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert 0.55 < j.mean() < 0.75  # DESIGN.md: ~0.64 at 5% word edits
    assert abs(found.sum() - expected) <= 4 * sd + 2, (found.sum(), expected)
    if (bands, rows) == (14, 8):
        assert 0.15 < found.mean() < 0.6  # DESIGN.md: ~35% found at the default banding
    else:
        assert found.mean() > 0.95  # chosen on purpose for light edits


def test_real_near_duplicates_the_codec_pages_are_caught_and_nothing_unlike():
    """The stdlib's ~100 codec modules (encodings.*) are generated from one template: the same
    page with a different name, source file and table. Their pages must cluster together, and
    every pair the LSH joins must be similar by measured Jaccard (asyncio's submodule pages
    share most of their text too, and are rightly joined)."""
    pages = pydoc_texts(skip_codecs=False)
    codecs = [p for p in pages if p["meta"]["module"].startswith("encodings.")]
    others = [p for p in pages if not p["meta"]["module"].startswith("encodings")][:80]
    docs = codecs + others
    texts = [normalize_whitespace(strip_pydoc_gutter(d["text"])) for d in docs]
    keys = DedupKeys(DedupConfig())
    near = _find(keys, texts)
    flagged = np.flatnonzero(near >= 0)
    is_codec = np.arange(len(docs)) < len(codecs)
    assert (is_codec[flagged] == is_codec[near[flagged]]).all()  # codecs never join other pages
    assert is_codec[flagged].sum() >= 0.8 * len(codecs)
    simple = [keys.simplify(t) for t in texts]
    pairs = np.array([jaccard(simple[i], simple[near[i]]) for i in flagged])
    assert pairs.min() > 0.4  # every joined pair is measurably similar
    assert (pairs < 0.95).any()  # and some are near, not exact, copies


def test_exact_keys_ignore_case_punctuation_and_spacing():
    keys = DedupKeys(DedupConfig())
    a = pydoc_texts(1)[0]["text"]
    b = a.upper().replace(",", ";").replace("\n", "  \n ")
    c = a.replace("the", "a")
    k = np.array([keys.exact_key(keys.simplify(t)) for t in (a, b, c)], dtype=np.uint64)
    assert k[0] == k[1] != k[2]


def test_keeper_is_the_first_in_input_order_and_scope_separates_sources():
    keys = np.array([7, 3, 7, 7, 3, 9], dtype=np.uint64)
    assert exact_duplicates(keys, None).tolist() == [-1, -1, 0, 0, 1, -1]
    sources = np.array([0, 0, 1, 1, 1, 1], dtype=np.uint64)
    assert exact_duplicates(keys, sources).tolist() == [-1, -1, -1, 2, -1, -1]
    # near: 0-1 share band 0, 1-2 share band 1, so 2 joins 0's cluster through 1; 3 is alone
    bands = np.array([[1, 10], [1, 11], [2, 11], [3, 12]], dtype=np.uint64)
    assert near_duplicates(bands, np.ones(4, bool), None).tolist() == [-1, 0, 0, -1]
    assert near_duplicates(bands, np.array([True, False, True, True]), None).tolist() == [-1, -1, -1, -1]
