"""The training data loader: blocks of packed documents, with positions for the document mask.

Every sample is a block of seq_len + 1 tokens taken from a stream of documents at stride
seq_len (consecutive blocks share one token), so each token of a pass is a target exactly
once: `input_ids` = block[:-1], `targets` = block[1:]. `positions` restart at 0 at every
document start (a block that starts mid-document continues that document's positions), and
`targets` are -100 where the next token starts another document (no loss term crosses a
boundary) and, for shards packed with a loss mask, where the target token's mask is 0.

The global sample sequence s = 0, 1, 2, ... is fixed by the shards, the seed and the source
weights alone. Rank r's i-th batch holds samples (i * world_size + r) * batch_size + b, and a
dataloader worker w makes the batches i = w, w + W, ...: ranks and workers together take every
sample once, with no overlap and no gap, and the data order does not depend on num_workers.

Without `source_weights` there is one stream over the whole split (its documents in packed
order on the first pass, reshuffled on each later one). With them, each named source is its own
stream and `mixture.MixtureSchedule` decides which stream each sample comes from.
"""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import torch

from pintsize.data.eval_batches import eval_batches
from pintsize.data.mixture import MixtureCursor, MixtureSchedule
from pintsize.data.shards import ShardSplit
from pintsize.data.streams import DocumentStream
from pintsize.errors import PintsizeError

__all__ = ["TokenLoader", "eval_batches"]

IGNORE = -100
_STATE_VERSION = 1
_CONFIG_FIELDS = ("shards_dir", "split_name", "seq_len", "batch_size", "rank", "world_size", "seed", "source_weights")


class BatchMaker:
    """Makes rank `rank`'s i-th batch from scratch: a pure function of i (given the config)."""

    def __init__(self, shards_dir, split, seq_len, batch_size, rank, world_size, seed, source_weights) -> None:
        if seq_len < 1 or batch_size < 1:
            raise PintsizeError(f"seq_len and batch_size must be positive (got {seq_len}, {batch_size})")
        if not 0 <= rank < world_size:
            raise PintsizeError(f"rank {rank} is not in [0, world_size={world_size})")
        self.shards_dir, self.split_name = Path(shards_dir), split
        self.seq_len, self.batch_size, self.rank, self.world_size, self.seed = seq_len, batch_size, rank, world_size, seed
        self.source_weights = dict(source_weights) if source_weights else None
        self._open()

    def _open(self) -> None:
        self.split = ShardSplit.open(self.shards_dir, self.split_name)
        if self.split.num_documents == 0:
            raise PintsizeError(f"{self.shards_dir}: split {self.split_name!r} has no documents")
        if self.source_weights is None:
            self.streams = [DocumentStream(self.split, np.arange(self.split.num_documents), self.seed)]
            self.schedule = None
            return
        names = self.split.source_names
        unknown = sorted(set(self.source_weights) - set(names))
        if unknown:
            raise PintsizeError(f"source_weights: unknown source(s) {unknown}; the shards have {names}")
        bad = {n: w for n, w in self.source_weights.items() if not (w >= 0 and np.isfinite(w))}
        if bad:
            raise PintsizeError(f"source_weights: weights must be finite and not negative, got {bad}")
        chosen = [n for n in names if self.source_weights.get(n, 0) > 0]
        if not chosen:
            raise PintsizeError("source_weights: no source has a positive weight")
        self.schedule = MixtureSchedule([self.source_weights[n] for n in chosen], self.seed)
        self.streams = []
        for j, name in enumerate(chosen):
            docs = np.flatnonzero(self.split.sources == names.index(name))
            if len(docs) == 0:
                raise PintsizeError(f"source_weights: source {name!r} has no documents in split {self.split_name!r}")
            self.streams.append(DocumentStream(self.split, docs, self.seed, stream=j + 1))
        self.stream_names = chosen
        self._cursor = MixtureCursor(self.schedule)

    def __getstate__(self) -> dict:  # sent to dataloader workers: they reopen the memmaps themselves
        return {k: v for k, v in self.__dict__.items() if k in _CONFIG_FIELDS}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def first_sample(self, i: int) -> int:
        return (i * self.world_size + self.rank) * self.batch_size

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        B, T = self.batch_size, self.seq_len
        tokens = np.empty((B, T + 1), dtype=np.int64)
        positions = np.empty((B, T + 1), dtype=np.int64)
        mask = np.empty((B, T + 1), dtype=np.uint8) if self.split.masks is not None else None
        first = self.first_sample(i)
        if self.schedule is None:
            where = [(self.streams[0], (first + b) * T) for b in range(B)]
        else:
            src, within = self._cursor.locate(first, first + B)
            where = [(self.streams[j], k * T) for j, k in zip(src.tolist(), within.tolist())]
        for b, (stream, offset) in enumerate(where):
            stream.read(offset, tokens[b], positions[b], None if mask is None else mask[b])
        targets = tokens[:, 1:].copy()
        targets[positions[:, 1:] == 0] = IGNORE
        if mask is not None:
            targets[mask[:, 1:] == 0] = IGNORE
        return {
            "input_ids": torch.from_numpy(np.ascontiguousarray(tokens[:, :-1])),
            "targets": torch.from_numpy(targets),
            "positions": torch.from_numpy(np.ascontiguousarray(positions[:, :-1])),
        }

    def batches(self, start: int, step: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        if self.schedule is not None:  # a fresh cursor: the schedule is walked from sample 0
            self._cursor = MixtureCursor(self.schedule)
        for i in count(start, step):
            yield self.batch(i)


class _WorkerBatches(torch.utils.data.IterableDataset):
    """Dataloader worker w of W makes batches start + w, start + w + W, ...; the DataLoader
    hands them out round-robin over workers, i.e. in order start, start + 1, ..."""

    def __init__(self, maker: BatchMaker, start: int) -> None:
        self.maker, self.start = maker, start

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        w, n = (info.id, info.num_workers) if info is not None else (0, 1)
        return self.maker.batches(self.start + w, n)


class TokenLoader:
    """Endless batches of `[batch_size, seq_len]` int64 tensors `input_ids`, `targets`, `positions`
    for this rank, resumable with `state_dict()` / `load_state_dict()`.

    `source_weights` ({source: weight}) mixes the named sources in those proportions (sources
    left out are not used); `passes` counts completed passes over the data (with weights: over
    the most-repeated source; `source_passes` gives each)."""

    def __init__(
        self,
        shards_dir: str | Path,
        split: str = "train",
        seq_len: int = 2048,
        batch_size: int = 8,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 1234,
        source_weights: Mapping[str, float] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        self._maker = BatchMaker(shards_dir, split, seq_len, batch_size, rank, world_size, seed, source_weights)
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self._next = 0  # this rank's next batch index
        self._pass_cursor = MixtureCursor(self._maker.schedule) if self._maker.schedule is not None else None

    @property
    def seq_len(self) -> int:
        return self._maker.seq_len

    @property
    def batch_size(self) -> int:
        return self._maker.batch_size

    @property
    def tokens_per_pass(self) -> int:
        return sum(s.tokens_per_pass for s in self._maker.streams)

    @property
    def samples_consumed(self) -> int:
        """Samples taken by all ranks together so far (ranks move in step)."""
        return self._next * self._maker.world_size * self._maker.batch_size

    @property
    def source_passes(self) -> dict[str, float]:
        """Passes made so far over each source's tokens ("all" without weights), fractions included."""
        m, consumed = self._maker, self.samples_consumed
        if m.schedule is None:
            return {"all": consumed * m.seq_len / m.streams[0].tokens_per_pass}
        cursor = self._pass_cursor
        if cursor.position > consumed:  # moved backwards (load_state_dict): recount
            cursor = self._pass_cursor = MixtureCursor(m.schedule)
        cursor.advance_to(consumed)
        return {n: int(c) * m.seq_len / s.tokens_per_pass for n, c, s in zip(m.stream_names, cursor.counts, m.streams)}

    @property
    def passes(self) -> int:
        """Completed passes over the most-repeated source."""
        return int(max(self.source_passes.values()))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self.num_workers == 0:
            batches = self._maker.batches(self._next)
        else:
            batches = iter(
                torch.utils.data.DataLoader(
                    _WorkerBatches(self._maker, self._next),
                    batch_size=None,
                    num_workers=self.num_workers,
                    pin_memory=self.pin_memory,
                )
            )
        for batch in batches:
            self._next += 1  # counted when handed out, so a checkpoint resumes at the next batch
            yield batch

    def state_dict(self) -> dict:
        m = self._maker
        return {
            "version": _STATE_VERSION,
            "split": m.split_name,
            "seq_len": m.seq_len,
            "seed": m.seed,
            "source_weights": m.source_weights,
            "samples": self.samples_consumed,
            "global_batch": m.world_size * m.batch_size,
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Resume after the last batch handed out when `state` was taken. The world size may
        change as long as the global batch (world_size * batch_size) is the same."""
        m = self._maker
        mine = self.state_dict()
        for key in ("version", "split", "seq_len", "seed", "source_weights", "global_batch"):
            if state.get(key) != mine[key]:
                raise PintsizeError(f"loader state does not match this loader: {key} is {state.get(key)!r}, here {mine[key]!r}")
        self._next = int(state["samples"]) // (m.world_size * m.batch_size)
