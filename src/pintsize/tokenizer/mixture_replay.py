"""Fast BPE merge replay for mixture inference: each category's sample is a table of distinct
pre-tokenized words with counts; pair counts live in a dict updated only around the positions a
merge touches (as Hugging Face's BPE trainer does). Every change of a count is logged, so one replay
gives every pair's count at every step, for every category: the LP (mixture_lp) then searches *all*
pairs for violated constraints under whatever mixture it holds, without replaying again. The
reference (alisawuffles/tokenizer-attack) likewise records every step's count changes once and
replays only those deltas, under the current mixture, in each round of its solver."""

from __future__ import annotations

from array import array
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
    """BPE state of one category: words as symbol-id lists, pair counts, pair -> words, and a log of
    every count change: (key, new count) entries, with `marks[s]` the log's length when step s began
    (entries before marks[0] are the counts at step 0; those written by merge t hold from step t + 1)."""

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
        self.log_keys, self.log_counts = array("q", pairs.keys()), array("q", pairs.values())
        self.marks = array("q", [len(pairs)])

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
        keys, counts = self.log_keys, self.log_counts
        if pairs.pop(key, 0):
            keys.append(key)
            counts.append(0)
        delta.pop(key, None)
        for k, d in delta.items():
            if d:
                c = pairs.get(k, 0) + d
                if c:
                    pairs[k] = c
                else:
                    del pairs[k]
                keys.append(k)
                counts.append(c)

    def end_step(self) -> None:
        self.marks.append(len(self.log_keys))

    def events(self, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key, step, count) of the logged changes that hold from a step < `steps`; the last write of
        a (key, step) wins (a step of several merges can change one pair twice)."""
        key, count = np.frombuffer(self.log_keys, np.int64), np.frombuffer(self.log_counts, np.int64)
        marks = np.frombuffer(self.marks, np.int64)
        step = np.repeat(np.arange(len(marks), dtype=np.int32), np.diff(np.r_[0, marks]))
        keep = step < steps
        key, step, count = key[keep], step[keep], count[keep]
        order = np.lexsort((step, key))  # stable: within a (key, step) group, log order
        key, step, count = key[order], step[order], count[order]
        last = np.r_[(key[1:] != key[:-1]) | (step[1:] != step[:-1]), True]
        return key[last], step[last], count[last]


@dataclass
class ReplayRecord:
    """What the LP needs, as flat arrays. Counts are raw pair counts; `scale` (bytes per category)
    normalizes them. Segment r says: pair `pair_keys[seg_pair[r]]` has counts `seg_counts[r]` (one per
    category) at every step in [seg_start[r], seg_end[r]); a pair with no segment covering a step has
    count 0 there in every category. The step's own merge is among the segments too: its counts never
    exceed `merge_counts`, so it never violates its own constraint."""

    merge_counts: np.ndarray  # (T, n) int64: count of the step's merge (summed over a duplicate group)
    seg_pair: np.ndarray  # (S,) int32 index into pair_keys
    seg_start: np.ndarray  # (S,) int32
    seg_end: np.ndarray  # (S,) int32, exclusive
    seg_counts: np.ndarray  # (S, n) int32 (int64 if a count needs it)
    pair_keys: np.ndarray  # (P,) int64 pair keys, sorted
    scale: np.ndarray  # (n,) bytes of each category's sample
    symbols: Symbols

    def counts_at(self, step: int) -> dict[int, np.ndarray]:
        """Pair key -> counts per category at `step`, for every pair with a non-zero count (tests, debugging)."""
        rows = np.flatnonzero((self.seg_start <= step) & (step < self.seg_end))
        return {int(self.pair_keys[self.seg_pair[r]]): self.seg_counts[r] for r in rows}


def replay_categories(steps: list[list[tuple[str, str]]], words: list[Counter], scale: list[int],
                      progress=None) -> ReplayRecord:
    """Replay `steps` (each a group of merges with one result; SentencePiece conversions list several
    splits of one piece) on every category, recording the merge's counts and every pair's counts."""
    symbols = Symbols()
    replays = [CategoryReplay(w, symbols) for w in words]
    merge_counts = np.zeros((len(steps), len(words)), dtype=np.int64)
    for t, group in enumerate(steps):
        keys = [symbols(a) * SHIFT + symbols(b) for a, b in group]
        new = symbols(group[0][0] + group[0][1])
        merge_counts[t] = [sum(r.pairs.get(k, 0) for k in keys) for r in replays]
        for r in replays:
            for k in keys:
                r.merge(k, new)
            r.end_step()
        if progress is not None:
            progress(t)
    seg = _segments([r.events(len(steps)) for r in replays], len(steps))
    return ReplayRecord(merge_counts, *seg, np.asarray(scale, dtype=float), symbols)


def _segments(events: list[tuple[np.ndarray, np.ndarray, np.ndarray]], steps: int):
    """Join the categories' change logs into one table of segments: a new segment of a pair starts at
    every step where any category's count of it changes, holding all categories' counts (a category
    carries its last count forward; before its first entry for the pair, it has none: 0)."""
    n = len(events)
    key = np.concatenate([e[0] for e in events])
    step = np.concatenate([e[1] for e in events])
    count = np.concatenate([e[2] for e in events])
    cat = np.repeat(np.arange(n, dtype=np.int32), [len(e[0]) for e in events])
    del events
    order = np.lexsort((step, key))
    key, step, count, cat = key[order], step[order], count[order], cat[order]
    del order
    starts = np.r_[True, (key[1:] != key[:-1]) | (step[1:] != step[:-1])]
    seg_of = np.cumsum(starts) - 1
    seg_key, seg_start = key[starts], step[starts]
    del key, step, starts
    S = len(seg_key)
    dtype = np.int32 if count.size == 0 or count.max() < 2**31 else np.int64
    counts = np.full((S, n), -1, dtype=dtype)
    counts[seg_of, cat] = count
    del seg_of, cat, count
    first = np.r_[True, seg_key[1:] != seg_key[:-1]]  # a pair's first segment: no entry yet means 0
    idx = np.arange(S)
    for j in range(n):  # carry each category's last count forward within a pair
        col = counts[:, j]
        col[first & (col < 0)] = 0
        col[:] = col[np.maximum.accumulate(np.where(col >= 0, idx, 0))]
    seg_end = np.r_[seg_start[1:], steps].astype(np.int32)
    seg_end[np.r_[first[1:], True]] = steps  # a pair's last segment runs to the end
    live = counts.any(axis=1)  # drop stretches where the pair has vanished everywhere
    pair_keys, seg_pair = np.unique(seg_key[live], return_inverse=True)
    return seg_pair.astype(np.int32), seg_start[live].astype(np.int32), seg_end[live], counts[live], pair_keys
