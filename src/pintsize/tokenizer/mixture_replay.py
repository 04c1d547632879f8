"""Fast BPE merge replay for mixture inference: each category's sample is a table of distinct
pre-tokenized words with counts; pair counts live in a dict updated only around the positions a
merge touches (as Hugging Face's BPE trainer does), and each step's strongest competitors come from a
lazy max-heap (stale entries are dropped when popped) instead of a scan of all pairs."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

import numpy as np

SHIFT = 1 << 24  # pair key = left * SHIFT + right: int keys hash faster than tuples


class Symbols:
    """One id per token string, shared by all categories so pair keys agree across them."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def __call__(self, s: str) -> int:
        i = self.ids.get(s)
        if i is None:
            i = self.ids[s] = len(self.names)
            self.names.append(s)
        return i

    def pair_name(self, key: int) -> tuple[str, str]:
        return self.names[key // SHIFT], self.names[key % SHIFT]


class CategoryReplay:
    """BPE state of one category: words as symbol-id lists, pair counts, pair -> words, lazy heap."""

    def __init__(self, words: Counter, symbols: Symbols):
        self.words = [[symbols(c) for c in w] for w in words]
        self.freq = list(words.values())
        self.pairs: dict[int, int] = {}
        self.where: dict[int, set[int]] = {}
        pairs, where = self.pairs, self.where
        for i, w in enumerate(self.words):
            f = self.freq[i]
            for a, b in zip(w, w[1:]):
                k = a * SHIFT + b
                pairs[k] = pairs.get(k, 0) + f
                where.setdefault(k, set()).add(i)
        self.heap = [(-c, k) for k, c in pairs.items()]
        heapq.heapify(self.heap)

    def top(self, k: int, exclude: set[int]) -> list[int]:
        """The k most frequent pairs not in `exclude` (ties broken by pair key)."""
        heap, pairs, got, seen, keep = self.heap, self.pairs, [], set(), []
        while heap and len(got) < k:
            neg, key = heapq.heappop(heap)
            if pairs.get(key, 0) != -neg or key in seen:
                continue  # stale: the count changed since this entry was pushed (a fresh one exists)
            seen.add(key)
            keep.append((neg, key))
            if key not in exclude:
                got.append(key)
        for e in keep:
            heapq.heappush(heap, e)
        return got

    def merge(self, key: int, new: int) -> None:
        """Merge pair `key` into symbol `new` everywhere, left to right as BPE encoding does."""
        a, b = divmod(key, SHIFT)
        pairs, where, delta = self.pairs, self.where, {}
        for i in where.pop(key, ()):
            w, f, j = self.words[i], self.freq[i], 0
            while j < len(w) - 1:
                if w[j] == a and w[j + 1] == b:
                    if j > 0:
                        p = w[j - 1]
                        delta[p * SHIFT + a] = delta.get(p * SHIFT + a, 0) - f
                        delta[p * SHIFT + new] = delta.get(p * SHIFT + new, 0) + f
                        where.setdefault(p * SHIFT + new, set()).add(i)
                    w[j:j + 2] = [new]
                    if j + 1 < len(w):
                        q = w[j + 1]
                        delta[b * SHIFT + q] = delta.get(b * SHIFT + q, 0) - f
                        delta[new * SHIFT + q] = delta.get(new * SHIFT + q, 0) + f
                        where.setdefault(new * SHIFT + q, set()).add(i)
                j += 1
        pairs.pop(key, None)
        delta.pop(key, None)
        for k, d in delta.items():
            c = pairs.get(k, 0) + d
            if c:
                pairs[k] = c
                heapq.heappush(self.heap, (-c, k))
            else:
                pairs.pop(k, None)
        if len(self.heap) > 4 * len(pairs) + 1024:  # drop the stale entries now and then
            self.heap = [(-c, k) for k, c in pairs.items()]
            heapq.heapify(self.heap)


@dataclass
class ReplayRecord:
    """What the LP needs, as flat arrays. Counts are raw pair counts; `scale` (bytes per category)
    normalizes them. Row r of the candidates is pair `cand_pair[r]` competing at step `cand_step[r]`."""

    merge_counts: np.ndarray  # (T, n) int64: count of the step's merge (summed over a duplicate group)
    cand_step: np.ndarray  # (R,) int32
    cand_pair: np.ndarray  # (R,) int64 pair keys
    cand_counts: np.ndarray  # (R, n) int64
    scale: np.ndarray  # (n,) bytes of each category's sample
    symbols: Symbols


def replay_categories(steps: list[list[tuple[str, str]]], words: list[Counter], scale: list[int],
                      top_k: int = 20, progress=None) -> ReplayRecord:
    """Replay `steps` (each a group of merges with one result; SentencePiece conversions list several
    splits of one piece) on every category, recording the merge's counts and the top-k competitors."""
    symbols = Symbols()
    replays = [CategoryReplay(w, symbols) for w in words]
    merge_counts = np.zeros((len(steps), len(words)), dtype=np.int64)
    cand_step, cand_pair, cand_counts = [], [], []
    for t, group in enumerate(steps):
        keys = [symbols(a) * SHIFT + symbols(b) for a, b in group]
        new = symbols(group[0][0] + group[0][1])
        exclude = set(keys)
        merge_counts[t] = [sum(r.pairs.get(k, 0) for k in keys) for r in replays]
        cands = sorted({p for r in replays for p in r.top(top_k, exclude)})
        cand_counts.append(np.array([[r.pairs.get(p, 0) for r in replays] for p in cands], dtype=np.int64).reshape(-1, len(replays)))
        cand_step.append(np.full(len(cands), t, dtype=np.int32))
        cand_pair.append(np.array(cands, dtype=np.int64))
        for r in replays:
            for k in keys:
                r.merge(k, new)
        if progress is not None:
            progress(t)
    n = len(words)
    cat = lambda xs, dtype, shape: np.concatenate(xs) if xs else np.zeros(shape, dtype)  # noqa: E731
    return ReplayRecord(merge_counts, cat(cand_step, np.int32, 0), cat(cand_pair, np.int64, 0),
                        cat(cand_counts, np.int64, (0, n)), np.asarray(scale, dtype=float), symbols)
