"""The training loader against the shards read directly with numpy: blocks, positions, targets,
coverage across ranks and workers, resume, repeats."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import pytest
import torch

from pintsize.data.loader import TokenLoader
from pintsize.data.shards import INDEX, read_meta
from pintsize.errors import PintsizeError

T, B = 64, 4


def _stream(shards, split="train") -> np.ndarray:
    """The split's tokens in packed order, read without the loader."""
    meta = read_meta(shards)
    parts = [np.fromfile(shards / split / s["file"], dtype=meta["dtype"]) for s in meta["splits"][split]["shards"]]
    return np.concatenate(parts).astype(np.int64)


def _doc_positions(shards, split="train") -> np.ndarray:
    lengths = np.load(shards / split / INDEX)[:, 2]
    return np.concatenate([np.arange(n) for n in lengths])


def test_blocks_follow_the_stream_with_positions_and_boundary_targets(shards):
    stream, pos = _stream(shards), _doc_positions(shards)
    batches = list(islice(TokenLoader(shards, seq_len=T, batch_size=B, seed=0), 80))  # ~20k tokens: many documents
    for i, batch in enumerate(batches):
        assert {k: (v.shape, v.dtype) for k, v in batch.items()} == {k: ((B, T), torch.int64) for k in ("input_ids", "targets", "positions")}
        for b in range(B):
            s = (i * B + b) * T  # sample i*B+b starts at stream offset s
            assert batch["input_ids"][b].tolist() == stream[s : s + T].tolist()
            assert batch["positions"][b].tolist() == pos[s : s + T].tolist()
            nxt = stream[s + 1 : s + T + 1]
            expected = np.where(pos[s + 1 : s + T + 1] == 0, -100, nxt)  # no target across a boundary
            assert batch["targets"][b].tolist() == expected.tolist()
    bos = read_meta(shards)["bos_id"]
    t = torch.cat([b["targets"] for b in batches])
    assert (t == -100).sum() > 0 and not (t == bos).any()


def _all_samples(shards, seq_len, world, workers, n_batches):
    """Every rank's first n_batches batches, as a list of (input row, target row) tuples."""
    rows = []
    for rank in range(world):
        loader = TokenLoader(shards, seq_len=seq_len, batch_size=B, rank=rank, world_size=world, seed=0, num_workers=workers)
        for batch in islice(loader, n_batches):
            rows += [(tuple(x.tolist()), tuple(y.tolist())) for x, y in zip(batch["input_ids"], batch["targets"])]
    return rows


def test_ranks_and_workers_cover_every_token_exactly_once_per_pass(shards):
    seq_len = 512
    stream = _stream(shards)
    n_samples = (len(stream) - 1) // seq_len  # whole blocks in one pass
    global_batch = 2 * B
    n_batches = n_samples // global_batch
    single = _all_samples(shards, seq_len, world=1, workers=0, n_batches=n_batches * 2)
    split = _all_samples(shards, seq_len, world=2, workers=2, n_batches=n_batches)
    assert Counter(split) == Counter(single)  # the same samples, none twice, none missing
    covered = Counter(t for x, _ in split for t in x)
    assert covered == Counter(stream[: n_batches * global_batch * seq_len].tolist())
    assert n_batches * global_batch * seq_len > 0.95 * len(stream)  # nearly a whole pass


def test_resume_at_the_next_sample(shards):
    loader = TokenLoader(shards, seq_len=T, batch_size=B, seed=5)
    it = iter(loader)
    for _ in range(7):
        next(it)
    state = loader.state_dict()
    expected = [next(it) for _ in range(3)]
    resumed = TokenLoader(shards, seq_len=T, batch_size=B, seed=5, num_workers=2)
    resumed.load_state_dict(state)
    for a, b in zip(expected, islice(resumed, 3)):
        assert all(torch.equal(a[k], b[k]) for k in a)
    # Another world size with the same global batch continues the same global sequence.
    half = [TokenLoader(shards, seq_len=T, batch_size=B // 2, rank=r, world_size=2, seed=5) for r in range(2)]
    for ld in half:
        ld.load_state_dict(state)
    first = [next(iter(ld)) for ld in half]
    assert torch.equal(torch.cat([f["input_ids"] for f in first]), expected[0]["input_ids"])
    with pytest.raises(PintsizeError, match="seq_len"):
        TokenLoader(shards, seq_len=T * 2, batch_size=B, seed=5).load_state_dict(state)


def _documents(tokens, positions):
    starts = np.flatnonzero(positions == 0).tolist() + [len(tokens)]
    return [tuple(tokens[a:b].tolist()) for a, b in zip(starts, starts[1:])]


def test_repeats_are_reshuffled_and_counted(shards):
    loader = TokenLoader(shards, split="val", seq_len=T, batch_size=B, seed=1)
    N = loader.tokens_per_pass
    n_batches = -(-2 * N // (T * B)) + 1
    inputs, positions, passes = [], [], []
    for batch in islice(loader, n_batches):
        inputs.append(batch["input_ids"].flatten())  # samples in order: row b of batch i is sample i*B+b
        positions.append(batch["positions"].flatten())
        passes.append(loader.passes)
    tokens, pos = torch.cat(inputs).numpy(), torch.cat(positions).numpy()
    assert passes == [(i + 1) * B * T // N for i in range(n_batches)] and passes[-1] == 2
    assert tokens[:N].tolist() == _stream(shards, "val").tolist()  # pass 0: the packed order
    first, second = _documents(tokens[:N], pos[:N]), _documents(tokens[N : 2 * N], pos[N : 2 * N])
    assert Counter(first) == Counter(second)  # the same documents...
    assert first != second  # ...in a new order


def test_bad_arguments_are_clear_errors(shards):
    with pytest.raises(PintsizeError, match="rank 2"):
        TokenLoader(shards, rank=2, world_size=2)
    with pytest.raises(PintsizeError, match="unknown source"):
        TokenLoader(shards, source_weights={"nope": 1.0})
    with pytest.raises(PintsizeError, match="not negative"):
        TokenLoader(shards, source_weights={"manual": 1.0, "guide": -0.5})
    with pytest.raises(PintsizeError, match="no source has a positive weight"):
        TokenLoader(shards, source_weights={"manual": 0.0})
    with pytest.raises(PintsizeError, match="no split 'test'"):
        TokenLoader(shards, split="test")
