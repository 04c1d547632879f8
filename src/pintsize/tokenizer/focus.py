"""FOCUS (Dobler & de Melo, 2023): a new token's embedding is a sparse mix of the embeddings of
the tokens both vocabularies share.

The weights come from static embeddings trained on the target corpus as the *new* tokenizer
splits it (gensim word2vec, dim 100, 3 epochs, as in the paper's fastText setup): the cosine
similarities of a new token to the shared tokens, put through sparsemax, so only the few closest
shared tokens contribute and the weights sum to 1.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from pintsize.errors import PintsizeError

MIN_CORPUS_TOKENS = 2000  # below this word2vec's vectors are noise


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Sparsemax (Martins & Astudillo, 2016) of a 1-D vector: the Euclidean projection onto the
    simplex. A dozen lines; the packages that ship it (entmax) are torch-only and not in our deps."""
    z = np.asarray(z, dtype=np.float64)
    z_sorted = np.sort(z)[::-1]
    cumsum = np.cumsum(z_sorted)
    k = np.arange(1, len(z) + 1)
    support = 1 + k * z_sorted > cumsum
    k_max = k[support][-1]
    tau = (cumsum[k_max - 1] - 1) / k_max
    return np.maximum(z - tau, 0.0)


def train_static_embeddings(token_docs: Iterable[list[str]], dim: int = 100, epochs: int = 3, seed: int = 0):
    """gensim word2vec over documents given as lists of (new-tokenizer) token strings -> KeyedVectors.
    One worker, so the vectors are reproducible for a seed."""
    from gensim.models import Word2Vec

    docs = [d for d in token_docs if d]
    n_tokens = sum(len(d) for d in docs)
    if n_tokens < MIN_CORPUS_TOKENS:
        raise PintsizeError(
            f"the target corpus has {n_tokens} tokens under the new tokenizer: too few to train static "
            f"embeddings for focus (need at least {MIN_CORPUS_TOKENS}); give more target text, or ask for "
            "--fallback mean|random ([adapt].fallback in a recipe) to initialise the new tokens that way instead"
        )
    w2v = Word2Vec(docs, vector_size=dim, window=5, min_count=1, epochs=epochs, workers=1, seed=seed, sg=1)
    return w2v.wv


def focus_weights(target: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Sparsemax weights over the rows of `shared` (static vectors of the shared tokens) for the
    static vector `target`, by cosine similarity."""
    sims = shared @ target / (np.linalg.norm(shared, axis=1) * np.linalg.norm(target) + 1e-12)
    return sparsemax(sims)
