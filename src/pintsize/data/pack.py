"""The pack stage: a corpus -> token shards for pretraining (see `shards.py` for the format).

Every document becomes BOS + text + EOS, with no padding anywhere. Documents are shuffled
globally with the seed, then split by document: the first `val_fraction` of the shuffled
documents are `val`, the rest `train`, so no document is in both. A run killed part-way is
resumed by rerunning it: finished tokenization units and finished shards are kept, and the
result is byte-identical to an uninterrupted run (only the manifest's timings differ).

Bad input (see `records.py`): empty documents are counted and skipped, invalid UTF-8 is
replaced by U+FFFD and counted, broken records are counted and listed in `quarantine.jsonl`;
input records = kept + empty + quarantined. A vocabulary larger than 65,536 tokens is stored
as uint32 instead of uint16.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pintsize.artifacts import ArtifactWriter, atomic_write_text
from pintsize.data.config import PackConfig
from pintsize.data.shards import SPLITS, split_counts, token_dtype, write_meta, write_split
from pintsize.errors import DataError

QUARANTINE = "quarantine.jsonl"
_UNITS = "units"


def pack_corpus(corpus: Path, tokenizer: Path, out: Path, config: PackConfig, workers: int | None = None, *, progress: bool = True) -> Path:
    """Tokenize the corpus at `corpus` (a corpus artifact, or Parquet/JSONL files or folders with
    `text` and optional `source`) with the tokenizer at `tokenizer`, into shards at `out`."""
    from pintsize.data.pack_progress import PackProgress
    from pintsize.data.records import read_corpus, total_bytes
    from pintsize.data.tokenize_units import COUNTS, tokenize_units, unit_paths
    from pintsize.tokenizer.load import TokenizerInfo, tokenizer_dir

    info = TokenizerInfo.read(tokenizer)
    dtype = token_dtype(info.vocab_size)
    workers = workers or len(os.sched_getaffinity(0))
    out = Path(out)
    with ArtifactWriter(out, "pack", config, inputs={"corpus": corpus, "tokenizer": tokenizer_dir(tokenizer)}) as art, PackProgress(progress) as bar:
        if art.resumed:
            _remove_temporaries(art.dir)
        units_dir = art.dir / _UNITS
        bar.start_reading(total_bytes(corpus))
        markers = tokenize_units(
            read_corpus(corpus, progress=bar.read),
            info.backend,
            units_dir,
            unit_bytes=config.unit_bytes,
            workers=workers,
            dtype=dtype,
            bos_id=info.bos_id,
            eos_id=info.eos_id,
            on_unit=bar.unit_done,
        )
        counts = {k: sum(m["counts"][k] for m in markers) for k in COUNTS}
        names = sorted({s for m in markers for s in m["source_names"]})
        lengths, sources, locate = _concat_units(markers, names)
        if len(lengths) == 0:
            raise DataError(f"{corpus}: nothing to pack: {counts['records']} records, {counts['empty']} empty, {counts['quarantined']} broken")

        unit_tokens: dict[int, np.ndarray] = {}

        def fetch(doc: int) -> tuple[np.ndarray, None]:
            unit, offset = int(locate[doc, 0]), int(locate[doc, 1])
            if unit not in unit_tokens:
                unit_tokens[unit] = np.memmap(unit_paths(units_dir, unit)[0], dtype=dtype, mode="r")
            return unit_tokens[unit][offset : offset + lengths[doc]], None

        bar.start_writing(int(lengths.sum()))
        meta = write_shuffled_splits(
            art.dir, lengths, sources, names, fetch, dtype=dtype, has_mask=False, config=config, on_shard=bar.wrote
        )
        quarantine = [q for m in markers for q in m["quarantine"]]
        if quarantine:
            atomic_write_text(art.dir / QUARANTINE, "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in quarantine))
        counts["kept"] = int(len(lengths))
        write_meta(art.dir, {**meta, **_tokenizer_meta(info), "input": counts})
        unit_tokens.clear()
        shutil.rmtree(units_dir)
        splits = {s: {k: v for k, v in meta["splits"][s].items() if k != "shards"} for s in SPLITS}
        art.stats.update(input=counts, dtype=meta["dtype"], **splits)
    return out


@dataclass
class TokenDocument:
    """An already-tokenized document for `pack_token_documents`: stored exactly as given."""

    tokens: Sequence[int] | np.ndarray
    source: str = "default"
    loss_mask: Sequence[int] | np.ndarray | None = None  # uint8 per token, 1 = a training target


def pack_token_documents(
    documents: Sequence[TokenDocument],
    out: Path,
    *,
    vocab_size: int,
    bos_id: int,
    eos_id: int,
    pad_id: int | None,
    config: PackConfig,
) -> dict:
    """Pack tokenized documents (e.g. chat conversations for SFT) into shards in the directory
    `out` (typically an `ArtifactWriter`'s `.dir`), shuffled and split like `pack_corpus`.

    Tokens are stored as given: the caller adds BOS/EOS (a chat template already does). When any
    document has a `loss_mask`, every shard gets a mask file (documents without one are all
    targets) and the loader sets the target to -100 wherever the target token's mask is 0, e.g.
    to train on assistant turns only. Returns the written meta.json content."""
    if not documents:
        raise DataError("pack_token_documents: no documents")
    docs = [np.asarray(d.tokens) for d in documents]
    masks = [None if d.loss_mask is None else np.asarray(d.loss_mask, dtype=np.uint8) for d in documents]
    for i, (doc, mask) in enumerate(zip(docs, masks)):
        if len(doc) == 0:
            raise DataError(f"pack_token_documents: document {i} is empty")
        if mask is not None and mask.shape != doc.shape:
            raise DataError(f"pack_token_documents: document {i} has {len(doc)} tokens but a loss mask of {len(mask)}")
        if doc.min() < 0 or doc.max() >= vocab_size:
            raise DataError(f"pack_token_documents: document {i} has a token id outside [0, {vocab_size})")
    names = sorted({d.source for d in documents})
    ids = {s: i for i, s in enumerate(names)}
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    sources = np.array([ids[d.source] for d in documents], dtype=np.int64)
    out = Path(out)
    meta = write_shuffled_splits(
        out, lengths, sources, names, lambda i: (docs[i], masks[i]),
        dtype=token_dtype(vocab_size), has_mask=any(m is not None for m in masks), config=config,
    )
    meta.update(vocab_size=vocab_size, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
    return write_meta(out, meta)


def write_shuffled_splits(
    out: Path,
    lengths: np.ndarray,
    sources: np.ndarray,
    names: list[str],
    fetch: Callable[[int], tuple[np.ndarray, np.ndarray | None]],
    *,
    dtype: np.dtype,
    has_mask: bool,
    config: PackConfig,
    on_shard: Callable[[int], None] | None = None,
) -> dict:
    """Shuffle documents 0..D-1 with the seed, split off validation, write both splits; return meta."""
    order = np.random.default_rng(config.seed).permutation(len(lengths))
    n_val = validation_size(len(lengths), config.val_fraction)
    meta: dict = {"dtype": dtype.name, "has_loss_mask": has_mask, "seed": config.seed, "sources": names, "splits": {}}
    for split, docs in (("val", order[:n_val]), ("train", order[n_val:])):
        shards = write_split(
            out / split, lengths[docs], sources[docs], lambda i, docs=docs: fetch(int(docs[i])),
            dtype, config.shard_tokens, has_mask, on_shard,
        )
        meta["splits"][split] = {**split_counts(lengths[docs], sources[docs], names), "shards": shards}
    return meta


def validation_size(n_docs: int, fraction: float) -> int:
    """Documents held out: round(fraction * n), at least one when asked for any, never all."""
    if fraction <= 0 or n_docs < 2:
        return 0
    return min(max(1, round(fraction * n_docs)), n_docs - 1)


def _concat_units(markers: list[dict], names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All documents in corpus order: lengths, global source ids, and [D, 2] (unit, offset) of each."""
    ids = {s: i for i, s in enumerate(names)}
    lengths, sources, locate = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros((0, 2), np.int64)]  # no units: none
    for unit, m in enumerate(markers):
        n = np.array(m["lengths"], dtype=np.int64)
        lengths.append(n)
        sources.append(np.array([ids[s] for s in m["source_names"]], dtype=np.int64)[m["source_ids"]] if len(n) else n)
        locate.append(np.stack([np.full(len(n), unit), np.cumsum(n) - n], axis=1))
    return np.concatenate(lengths), np.concatenate(sources), np.concatenate(locate)


def _remove_temporaries(root: Path) -> None:
    """Half-written files a killed run left behind (atomic writes go to `.<name>.tmp-<pid>`)."""
    for p in root.rglob(".*.tmp-*"):
        p.unlink()


def _tokenizer_meta(info) -> dict:
    return {"vocab_size": info.vocab_size, "bos_id": info.bos_id, "eos_id": info.eos_id, "pad_id": info.pad_id}
