"""Degenerate text never scores as textbook-like.

A linear model scores text unlike either training class at (about) its prior: an empty string has
no features, so it gets the intercept; random letters hash to buckets the model never saw, so they
get the intercept too. Measured on the demo model: 0.745 and 0.748, i.e. "keep". The gate asks two
questions the regression cannot: is there enough text (`min_words`), and is it made of words the
training set contained (`min_known_share`, the share of word occurrences whose hashed unigram had
a document frequency above zero at training time)? A document failing either scores 0.
"""

from __future__ import annotations

import numpy as np

MIN_WORDS = 8  # fewer words than a sentence: nothing to judge
MIN_KNOWN_SHARE = 0.5  # real text of a seen language: >0.9 measured; random letters: the bucket fill rate


def seen_buckets(idf: np.ndarray) -> np.ndarray:
    """Buckets with a document frequency above zero: a smoothed idf of an unseen bucket is the
    maximum, ln(1 + n) + 1 (float32 on disk, hence the tolerance)."""
    return idf < idf.max() - 1e-4


def unigram_counts(texts, n_features: int, max_chars: int):
    # The same hashing as the model's features (same tokenizer, same n_features), unigrams only,
    # so a column here is the bucket of that word in the model.
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(ngram_range=(1, 1), n_features=n_features, alternate_sign=False, norm=None)
    return vectorizer.transform([t[:max_chars] for t in texts])


def degenerate(texts, seen: np.ndarray, n_features: int, max_chars: int, min_words: int = MIN_WORDS, min_known_share: float = MIN_KNOWN_SHARE) -> np.ndarray:
    """True for each text too short, or made mostly of words the model never saw (`seen`: bool per
    word-unigram bucket of n_features: `seen_buckets(idf)` for a word model, the stored bitmap of a
    style model)."""
    counts = unigram_counts(texts, n_features, max_chars)
    words = np.asarray(counts.sum(axis=1)).ravel()
    known = np.asarray(counts[:, np.flatnonzero(seen)].sum(axis=1)).ravel()
    share = np.divide(known, words, out=np.zeros_like(words, dtype=np.float64), where=words > 0)
    return (words < min_words) | (share < min_known_share)
