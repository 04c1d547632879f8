"""Which documents go into the review queue, and in what order.

- stratified: sources take turns (round-robin over a shuffled order within each source), so
  every prefix of the queue is balanced across sources and small sources are not drowned;
- threshold: uncertainty sampling for active learning: the documents whose quality score is
  nearest the classifier's threshold, nearest first;
- random: a uniform sample, for auditing what the pipeline keeps.

All are reproducible from the seed. Double annotation is decided per document id by a hash,
so the same document gets the same decision whichever queue it lands in (the learning curve
picks its held-out documents the same way).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence, Set
from itertools import zip_longest

import numpy as np

from pintsize.errors import DataError
from pintsize.review.config import QueueConfig


def select(
    ids: Sequence[str],
    sources: Sequence[str],
    scores: np.ndarray | None,
    config: QueueConfig,
    exclude: Set[str] = frozenset(),
) -> list[int]:
    """Indices into `ids` of up to `config.size` documents, in queue order, none of them in `exclude`."""
    rng = np.random.default_rng(config.seed)
    eligible = np.array([i for i, d in enumerate(ids) if d not in exclude], dtype=np.int64)
    if config.strategy == "random":
        return rng.permutation(eligible)[: config.size].tolist()
    if config.strategy == "stratified":
        by_source: dict[str, list[int]] = defaultdict(list)
        for i in rng.permutation(eligible).tolist():
            by_source[sources[i]].append(i)
        turns = zip_longest(*(by_source[s] for s in sorted(by_source)))
        return [i for turn in turns for i in turn if i is not None][: config.size]
    if scores is None:
        raise DataError(
            f"the threshold strategy needs a `{config.score_column}` column in the corpus, or a quality model to score it"
        )
    eligible = eligible[~np.isnan(scores[eligible])]
    distance = np.abs(scores[eligible] - config.threshold)
    tie_break = rng.random(len(eligible))
    order = np.lexsort((tie_break, distance))  # the last key is the primary one
    return eligible[order][: config.size].tolist()


def uniform_of(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by `key` and `seed`, uniformly spread over keys (from a hash)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def needs_second_review(doc_id: str, fraction: float, seed: int) -> bool:
    """True for about `fraction` of all ids, always the same for the same id and seed."""
    return uniform_of(doc_id, seed) < fraction
