"""FOCUS (Dobler & de Melo, 2023; reference code konstantinjdobler/focus): a new token's embedding
is a sparse mix of the embeddings of the tokens both vocabularies share.

The weights come from auxiliary static embeddings trained on the target corpus as the *new*
tokenizer splits it: fastText CBOW with subword n-grams, dim 100, minCount 10, 10 negatives,
3 epochs, as the reference trains them (here with gensim's `FastText`, fastText's own defaults
otherwise: window 5, lr 0.05, sampling 1e-4, n-grams of 3-6 characters, 2M buckets). A new
token's cosine similarities to the shared tokens go through sparsemax, so only the closest shared
tokens contribute (how many depends on how spread out the similarities are) and the weights sum
to 1. Only tokens seen at least minCount times have an auxiliary vector (the reference's `token in
fasttext_model`); the support is the shared tokens that have one.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from pintsize.errors import PintsizeError

MIN_CORPUS_TOKENS = 2000  # below this the auxiliary vectors are noise
MIN_COUNT = 10  # the reference's fasttext_model_min_count
BUCKETS = 2_000_000  # fastText's default: n-gram hash buckets (dim floats each: 800 MB at dim 100)
LINE_TOKENS = 1024  # fastText reads at most this many words as one line (MAX_LINE_SIZE); gensim would cut at 10,000


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


def train_static_embeddings(token_docs: Iterable[list[str]], dim: int = 100, epochs: int = 3, seed: int = 0,
                            min_count: int = MIN_COUNT, buckets: int = BUCKETS):
    """gensim FastText (CBOW, subwords) over documents given as lists of (new-tokenizer) token
    strings -> KeyedVectors; `key_to_index` holds the tokens seen at least `min_count` times.
    One worker, so the vectors are reproducible for a seed."""
    from gensim.models import FastText

    lines = [d[i : i + LINE_TOKENS] for d in token_docs if d for i in range(0, len(d), LINE_TOKENS)]
    n_tokens = sum(len(d) for d in lines)
    hint = ("; give more target text, or ask for --fallback mean|random ([adapt].fallback in a recipe) to "
            "initialise the new tokens that way instead")
    if n_tokens < MIN_CORPUS_TOKENS:
        raise PintsizeError(f"the target corpus has {n_tokens} tokens under the new tokenizer: too few to train static "
                            f"embeddings for focus (need at least {MIN_CORPUS_TOKENS})" + hint)
    model = FastText(vector_size=dim, sg=0, window=5, min_count=min_count, negative=10, epochs=epochs, alpha=0.05,
                     sample=1e-4, min_n=3, max_n=6, bucket=buckets, workers=1, seed=seed)
    model.build_vocab(corpus_iterable=lines)
    if not model.wv.key_to_index:
        raise PintsizeError(f"the target corpus has {n_tokens} tokens under the new tokenizer, none seen {min_count} "
                            "times: too few to train static embeddings for focus" + hint)
    model.train(corpus_iterable=lines, total_examples=len(lines), epochs=epochs)
    return model.wv


def has_vector(wv, token: str) -> bool:
    """Whether FOCUS may use `token`'s auxiliary vector: it was seen at least min_count times
    (fastText would also build a vector from n-grams for any string; the reference does not use those)."""
    return token in wv.key_to_index


def focus_weights(target: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Sparsemax weights over the rows of `shared` (static vectors of the shared tokens) for the
    static vector `target`, by cosine similarity."""
    sims = shared @ target / (np.linalg.norm(shared, axis=1) * np.linalg.norm(target) + 1e-12)
    return sparsemax(sims)
