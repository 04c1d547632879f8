"""Batches of preference pairs for DPO, and the reference model's log-probabilities of them.

A micro-batch of B pairs is 2B rows, chosen then rejected, right-padded to a common length (the
longest row rounded up to a multiple of 64, so a compiled model sees few shapes). Padding sits
after every real token, so causal attention alone keeps it out of the real tokens' view, and
its targets are -100.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import torch

from pintsize.data.preference import EncodedPair
from pintsize.errors import PintsizeError
from pintsize.train.dpo_objective import sequence_logps
from pintsize.train.objective import IGNORE_INDEX

PAD_MULTIPLE = 64
_STATE_VERSION = 1


def collate(pairs: list[EncodedPair], pad_id: int, max_len: int, ref_logps: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """`input_ids`, `targets` [2B, T] (and `ref_logps` [2B] given the pairs' [B, 2] reference log-probs)."""
    rows = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    longest = max(len(r) - 1 for r in rows)
    width = min(max_len, -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    targets = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
    for k, r in enumerate(rows):
        n = len(r) - 1
        input_ids[k, :n] = r.ids[:-1]
        targets[k, :n] = np.where(r.mask[1:] == 1, r.ids[1:], IGNORE_INDEX)
    batch = {"input_ids": torch.from_numpy(input_ids), "targets": torch.from_numpy(targets)}
    if ref_logps is not None:
        batch["ref_logps"] = torch.from_numpy(np.concatenate([ref_logps[:, 0], ref_logps[:, 1]]).astype(np.float32))
    return batch


class PairBatches:
    """Endless micro-batches of training pairs for one rank, resumable like `TokenLoader`.

    Epoch e visits every pair once, in an order drawn from (seed, e). The global sample sequence
    is fixed by the pairs and the seed; rank r's i-th batch holds samples (i * world_size + r) *
    batch_size + b, so ranks together take every sample once."""

    def __init__(
        self,
        pairs: list[EncodedPair],
        ref_logps: np.ndarray | None,
        batch_size: int,
        rank: int,
        world_size: int,
        seed: int,
        pad_id: int,
        max_len: int,
    ):
        if not pairs:
            raise PintsizeError("no preference pairs to train on")
        self.pairs, self.ref_logps = pairs, ref_logps
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        self.pad_id, self.max_len = pad_id, max_len
        self._next = 0
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))}
        return self._orders[epoch]

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        first = (i * self.world_size + self.rank) * self.batch_size
        n = len(self.pairs)
        idx = [int(self._order(s // n)[s % n]) for s in range(first, first + self.batch_size)]
        ref = None if self.ref_logps is None else self.ref_logps[idx]
        return collate([self.pairs[j] for j in idx], self.pad_id, self.max_len, ref)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            batch = self.batch(self._next)
            self._next += 1  # counted when handed out, so a checkpoint resumes at the next batch
            yield batch

    def state_dict(self) -> dict:
        return {
            "version": _STATE_VERSION,
            "pairs": len(self.pairs),
            "seed": self.seed,
            "global_batch": self.world_size * self.batch_size,
            "samples": self._next * self.world_size * self.batch_size,
        }

    def load_state_dict(self, state: Mapping) -> None:
        mine = self.state_dict()
        for key in ("version", "pairs", "seed", "global_batch"):
            if state.get(key) != mine[key]:
                raise PintsizeError(f"DPO data state does not match this run: {key} is {state.get(key)!r}, here {mine[key]!r}")
        self._next = int(state["samples"]) // (self.world_size * self.batch_size)


def share(n: int, batch_size: int, rank: int, world_size: int) -> list[range]:
    """Rank `rank`'s micro-batches of a finite pass over n items: batches rank, rank + world_size, ..."""
    return [range(s, min(s + batch_size, n)) for s in range(rank * batch_size, n, world_size * batch_size)]


def finite_batches(
    pairs: list[EncodedPair], ref_logps: np.ndarray | None, batch_size: int, rank: int, world_size: int, pad_id: int, max_len: int
) -> Iterator[dict[str, torch.Tensor]]:
    """One pass over this rank's share of the pairs (validation, and the reference's log-probs)."""
    for part in share(len(pairs), batch_size, rank, world_size):
        ref = None if ref_logps is None else ref_logps[part.start : part.stop]
        yield collate(pairs[part.start : part.stop], pad_id, max_len, ref)


@torch.no_grad()
def pair_logps(model: torch.nn.Module, batches: Iterator[dict[str, torch.Tensor]], device: torch.device, autocast) -> np.ndarray:
    """[B, 2] summed reply log-probabilities (chosen, rejected) of every pair, batch after batch."""
    out = []
    for batch in batches:
        with autocast():
            logps = sequence_logps(model(batch["input_ids"].to(device)), batch["targets"].to(device)).float()
        b = logps.shape[0] // 2
        out.append(torch.stack([logps[:b], logps[b:]], dim=1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 2), dtype=np.float32)
