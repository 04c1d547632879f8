"""The token-shard format: what `pintsize pack` writes and the loader reads.

    <shards>/meta.json            dtype, vocab size, BOS/EOS/PAD ids, sources, per-split counts
    <shards>/<split>/tokens-NNNNN.bin   token ids, documents back to back (raw uint16 or uint32)
    <shards>/<split>/mask-NNNNN.bin     optional per-token loss mask (uint8, 1 = a training target)
    <shards>/<split>/documents.npy      int64 [D, 4]: shard, offset in shard, length, source index

Splits are `train` and `val`. Documents never span shards, and there is no padding: a
document is exactly its tokens (for text: BOS + text + EOS). Every file is written under a
temporary name and renamed, so a shard that exists under its final name is complete.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pintsize.artifacts import atomic_write_bytes, atomic_write_json
from pintsize.errors import DataError

FORMAT = "pintsize-shards/1"
META = "meta.json"
INDEX = "documents.npy"
SPLITS = ("train", "val")
SHARD, OFFSET, LENGTH, SOURCE = range(4)  # columns of documents.npy


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits, uint32 beyond."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def tokens_file(shard: int) -> str:
    return f"tokens-{shard:05d}.bin"


def mask_file(shard: int) -> str:
    return f"mask-{shard:05d}.bin"


def plan_shards(lengths, shard_tokens: int) -> list[tuple[int, int]]:
    """Split items (in order) into consecutive groups whose sizes add up to about `shard_tokens`:
    [(first, end)]. Packing groups documents by tokens, curation groups input files by bytes."""
    plan, start, total = [], 0, 0
    for i, n in enumerate(np.asarray(lengths).tolist()):
        total += n
        if total >= shard_tokens:
            plan.append((start, i + 1))
            start, total = i + 1, 0
    if start < len(lengths):
        plan.append((start, len(lengths)))
    return plan


DocFetcher = Callable[[int], "tuple[np.ndarray, np.ndarray | None]"]


def write_split(
    split_dir: Path,
    lengths: np.ndarray,
    sources: np.ndarray,
    fetch: DocFetcher,
    dtype: np.dtype,
    shard_tokens: int,
    has_mask: bool,
    on_shard: Callable[[int], None] | None = None,
) -> list[dict]:
    """Write the documents 0..D-1 (`fetch(i)` -> tokens, mask) of one split; return the shard list.

    A shard already present under its final name is kept (resuming an interrupted pack)."""
    split_dir.mkdir(parents=True, exist_ok=True)
    index = np.zeros((len(lengths), 4), dtype=np.int64)
    shards = []
    for shard, (first, end) in enumerate(plan_shards(lengths, shard_tokens)):
        n_tokens = int(lengths[first:end].sum())
        offsets = np.concatenate([[0], np.cumsum(lengths[first:end])[:-1]])
        index[first:end, SHARD] = shard
        index[first:end, OFFSET] = offsets
        path = split_dir / tokens_file(shard)
        if not (path.is_file() and (not has_mask or (split_dir / mask_file(shard)).is_file())):
            tokens = np.empty(n_tokens, dtype=dtype)
            mask = np.empty(n_tokens, dtype=np.uint8) if has_mask else None
            for i, off in zip(range(first, end), offsets.tolist()):
                doc, doc_mask = fetch(i)
                tokens[off : off + len(doc)] = doc
                if mask is not None:
                    mask[off : off + len(doc)] = 1 if doc_mask is None else doc_mask
            if mask is not None:
                atomic_write_bytes(split_dir / mask_file(shard), mask.tobytes())
            atomic_write_bytes(path, tokens.tobytes())  # last: its presence marks the shard done
        shards.append({"file": tokens_file(shard), "tokens": n_tokens, "documents": end - first})
        if on_shard is not None:
            on_shard(n_tokens)
    index[:, LENGTH] = lengths
    index[:, SOURCE] = sources
    buf = io.BytesIO()
    np.save(buf, index)
    atomic_write_bytes(split_dir / INDEX, buf.getvalue())
    return shards


def split_counts(lengths: np.ndarray, sources: np.ndarray, names: list[str]) -> dict:
    """{"documents", "tokens", "sources": {name: {"documents", "tokens"}}} of one split."""
    docs = np.bincount(sources, minlength=len(names)) if len(sources) else np.zeros(len(names), np.int64)
    toks = np.bincount(sources, weights=lengths, minlength=len(names)) if len(sources) else np.zeros(len(names))
    return {
        "documents": int(len(lengths)),
        "tokens": int(lengths.sum()),
        "sources": {n: {"documents": int(d), "tokens": int(t)} for n, d, t in zip(names, docs, toks) if d},
    }


def write_meta(out: Path, meta: dict) -> dict:
    meta = {"format": FORMAT, **meta}
    atomic_write_json(out / META, meta)
    return meta


def read_meta(shards_dir: str | Path) -> dict:
    path = Path(shards_dir) / META
    if not path.is_file():
        raise DataError(f"{shards_dir}: not a shards directory (no {META}); make one with `pintsize pack`")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); a damaged shards directory: pack it again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DataError(f"{path}: unknown shard format {found!r} (expected {FORMAT})")
    return meta


@dataclass
class ShardSplit:
    """One split of a shards directory, memory-mapped: documents by index, in packed order."""

    root: Path
    split: str
    meta: dict
    index: np.ndarray  # [D, 4] int64
    tokens: list[np.ndarray]
    masks: list[np.ndarray] | None

    @classmethod
    def open(cls, shards_dir: str | Path, split: str) -> "ShardSplit":
        root = Path(shards_dir)
        meta = read_meta(root)
        if split not in meta["splits"]:
            raise DataError(f"{root}: no split {split!r} (splits: {', '.join(meta['splits'])})")
        d = root / split
        dtype = np.dtype(meta["dtype"])
        shards = meta["splits"][split]["shards"]
        tokens = [_memmap(d / s["file"], dtype, s["tokens"]) for s in shards]
        masks = None
        if meta.get("has_loss_mask"):
            masks = [_memmap(d / mask_file(i), np.dtype(np.uint8), s["tokens"]) for i, s in enumerate(shards)]
        return cls(root, split, meta, np.load(d / INDEX), tokens, masks)

    @property
    def num_documents(self) -> int:
        return len(self.index)

    @property
    def lengths(self) -> np.ndarray:
        return self.index[:, LENGTH]

    @property
    def sources(self) -> np.ndarray:
        return self.index[:, SOURCE]

    @property
    def source_names(self) -> list[str]:
        return list(self.meta["sources"])

    def document(self, i: int) -> np.ndarray:
        shard, offset, length, _ = self.index[i].tolist()
        return self.tokens[shard][offset : offset + length]

    def document_mask(self, i: int) -> np.ndarray | None:
        if self.masks is None:
            return None
        shard, offset, length, _ = self.index[i].tolist()
        return self.masks[shard][offset : offset + length]


def _memmap(path: Path, dtype: np.dtype, n: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: shard file missing")
    size = path.stat().st_size
    if size != n * dtype.itemsize:
        raise DataError(f"{path}: {size} bytes, expected {n * dtype.itemsize} ({n} tokens of {dtype})")
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(n,))
