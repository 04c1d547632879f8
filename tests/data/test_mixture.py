"""Source mixtures: the schedule's prefix counts, and the loader meeting the weights within 1%
over 1M tokens (each row's source found by matching it against the shards, not asked of the loader)."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from pintsize.data.loader import TokenLoader
from pintsize.data.mixture import MixtureCursor, MixtureSchedule
from pintsize.data.shards import ShardSplit
from pintsize.errors import PintsizeError


def test_schedule_meets_the_weights_at_every_prefix():
    weights = np.array([0.5, 0.3, 0.15, 0.05])
    src = MixtureSchedule(weights, seed=11).sources(0, 200_000)
    counts = np.cumsum(np.eye(4, dtype=np.int64)[src], axis=0)
    n = np.arange(1, len(src) + 1)[:, None]
    assert np.abs(counts - weights * n).max() <= 10  # i.i.d. draws would drift by hundreds
    assert not np.array_equal(src[:1000], MixtureSchedule(weights, seed=12).sources(0, 1000))
    assert np.array_equal(src[5000:6000], MixtureSchedule(weights, seed=11).sources(5000, 6000))


def test_cursor_numbers_samples_within_their_source():
    schedule = MixtureSchedule([2.0, 1.0, 1.0], seed=0)
    src = schedule.sources(0, 5000)
    expected = np.array([np.sum(src[:i] == s) for i, s in enumerate(src)])
    cursor = MixtureCursor(schedule)
    got_src, got_k = zip(*(cursor.locate(a, a + 37) for a in range(1000, 5000 - 37, 37 * 3)))
    for (a, s, k) in zip(range(1000, 5000, 37 * 3), got_src, got_k):
        assert np.array_equal(s, src[a : a + 37]) and np.array_equal(k, expected[a : a + 37])
    with pytest.raises(PintsizeError):
        MixtureSchedule([1.0, 0.0], seed=0)


def _row_sources(split: ShardSplit, inputs: np.ndarray, positions: np.ndarray) -> list[str]:
    """The source of each row, found by locating the row's longest document segment in the shards."""
    stream = np.concatenate([split.document(i) for i in range(split.num_documents)]).astype(np.int64)
    doc_of = np.repeat(np.arange(split.num_documents), split.lengths)
    pos_of = np.concatenate([np.arange(n) for n in split.lengths])
    by_position = np.argsort(pos_of, kind="stable")
    first_at = np.searchsorted(pos_of[by_position], np.arange(pos_of.max() + 2))
    names = split.source_names
    out = []
    for row, pos in zip(inputs, positions):
        bounds = [0, *(np.flatnonzero(pos[1:] == 0) + 1).tolist(), len(row)]
        a, b = max(zip(bounds, bounds[1:]), key=lambda ab: ab[1] - ab[0])  # one document's tokens
        cand = by_position[first_at[pos[a]] : first_at[pos[a] + 1]]  # stream offsets at this position
        cand = cand[cand + (b - a) <= len(stream)]
        match = cand[(stream[cand[:, None] + np.arange(b - a)] == row[a:b]).all(axis=1)]
        sources = {names[split.sources[doc_of[m]]] for m in match}
        assert len(sources) == 1, f"row matched {len(match)} places in {sources}"
        out.append(sources.pop())
    return out


@pytest.mark.parametrize("weights", [{"manual": 0.2, "reference": 0.5, "guide": 0.3}, {"manual": 0.7, "guide": 0.3}])
def test_loader_meets_the_weights_within_one_percent_over_1m_tokens(shards, weights):
    T, B = 256, 16
    loader = TokenLoader(shards, seq_len=T, batch_size=B, seed=4, source_weights=weights)
    n_batches = -(-1_000_000 // (T * B))
    batches = list(islice(loader, n_batches))
    inputs = np.concatenate([b["input_ids"].numpy() for b in batches])
    positions = np.concatenate([b["positions"].numpy() for b in batches])
    sources = _row_sources(ShardSplit.open(shards, "train"), inputs, positions)
    total = sum(weights.values())
    for name in ("manual", "reference", "guide"):
        share = sources.count(name) / len(sources)  # every row is T tokens
        assert abs(share - weights.get(name, 0) / total) <= 0.01, (name, share)
    # 1M tokens is more than any one source holds: the data repeats, and the loader says so.
    assert loader.passes >= 1 and set(loader.source_passes) == set(weights)
