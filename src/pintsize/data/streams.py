"""A split's documents as one endless stream of tokens, read block by block.

Pass 0 reads the documents in the order given (the packed order, already shuffled globally);
every later pass reads them in a fresh order drawn from (seed, stream, pass), so repeated data
is reshuffled. A read may start mid-document and cross documents and passes; it also returns
each token's position within its document and, when the shards have one, its loss mask.
"""

from __future__ import annotations

import numpy as np

from pintsize.data.shards import LENGTH, OFFSET, SHARD, ShardSplit


class DocumentStream:
    def __init__(self, split: ShardSplit, doc_ids: np.ndarray, seed: int, stream: int = 0) -> None:
        self.split = split
        self.doc_ids = np.asarray(doc_ids, dtype=np.int64)
        self.seed, self.stream = seed, stream
        self.tokens_per_pass = int(split.lengths[self.doc_ids].sum())
        self._passes: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _pass(self, p: int) -> tuple[np.ndarray, np.ndarray]:
        """(document order, start offset of each document within the pass)."""
        if p not in self._passes:
            if p == 0:
                order = self.doc_ids
            else:
                order = self.doc_ids[np.random.default_rng([self.seed, self.stream, p]).permutation(len(self.doc_ids))]
            lengths = self.split.lengths[order]
            self._passes = {q: v for q, v in self._passes.items() if q == p - 1}  # keep the one before
            self._passes[p] = (order, np.cumsum(lengths) - lengths)
        return self._passes[p]

    def read(self, offset: int, tokens: np.ndarray, positions: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Fill `tokens`, `positions` (and `mask`) with the stream's tokens from `offset` on."""
        split, n, filled = self.split, len(tokens), 0
        while filled < n:
            p, o = divmod(offset + filled, self.tokens_per_pass)
            order, starts = self._pass(p)
            j = int(np.searchsorted(starts, o, side="right")) - 1
            within = o - int(starts[j])
            while filled < n and j < len(order):
                doc = int(order[j])
                row = split.index[doc]
                shard, start, length = int(row[SHARD]), int(row[OFFSET]), int(row[LENGTH])
                take = min(length - within, n - filled)
                lo = start + within
                tokens[filled : filled + take] = split.tokens[shard][lo : lo + take]
                positions[filled : filled + take] = np.arange(within, within + take)
                if mask is not None:  # the split has loss masks
                    mask[filled : filled + take] = split.masks[shard][lo : lo + take]
                filled += take
                j += 1
                within = 0
