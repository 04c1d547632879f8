"""Packing, phase 1: tokenize a corpus in parallel into work units on disk.

The corpus is read in order and cut into units of about `unit_bytes` of text. A pool of
threads tokenizes the units with the `tokenizers` library's batch encoder (which releases the
GIL, so the threads run on all cores); each unit becomes `unit-NNNNNN.bin` (documents as
BOS + text + EOS, back to back) plus `unit-NNNNNN.json`, written last, that marks it done and
holds its document lengths, sources, input counts and quarantined records. The cut depends only
on the input and `unit_bytes`, so a rerun after a crash skips the units already done.
"""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from pintsize.artifacts import atomic_write_bytes, atomic_write_json
from pintsize.data.records import Broken, Record

COUNTS = ("records", "empty", "quarantined", "utf8_replaced")


@dataclass
class Unit:
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    text_bytes: int = 0


def cut_units(records: Iterable[Record | Broken], unit_bytes: int) -> Iterator[Unit]:
    """Group records into units of about `unit_bytes` characters of kept text, counting as it goes."""
    unit = Unit()
    for rec in records:
        unit.counts["records"] += 1
        if isinstance(rec, Broken):
            unit.counts["quarantined"] += 1
            unit.quarantine.append({"where": rec.where, "reason": rec.reason})
            continue
        unit.counts["utf8_replaced"] += rec.utf8_replaced
        if rec.empty:
            unit.counts["empty"] += 1
            continue
        unit.texts.append(rec.text)
        unit.sources.append(rec.source)
        unit.text_bytes += len(rec.text)
        if unit.text_bytes >= unit_bytes:
            yield unit
            unit = Unit()
    if unit.counts["records"]:
        yield unit


def unit_paths(units_dir: Path, n: int) -> tuple[Path, Path]:
    return units_dir / f"unit-{n:06d}.bin", units_dir / f"unit-{n:06d}.json"


def tokenize_units(
    records: Iterable[Record | Broken],
    backend,
    units_dir: Path,
    *,
    unit_bytes: int,
    workers: int,
    dtype: np.dtype,
    bos_id: int,
    eos_id: int,
    on_unit: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Tokenize every record into units under `units_dir`; return each unit's done-marker, in order."""
    units_dir.mkdir(parents=True, exist_ok=True)
    done: list[dict | Future] = []
    in_flight: deque[Future] = deque()

    def report(fut: Future) -> None:
        if on_unit is not None and fut.exception() is None:
            on_unit(fut.result())

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack") as pool:
        for n, unit in enumerate(cut_units(records, unit_bytes)):
            tokens_path, marker_path = unit_paths(units_dir, n)
            if marker_path.is_file():
                marker = json.loads(marker_path.read_text())
                done.append(marker)
                if on_unit:
                    on_unit(marker)
                continue
            while len(in_flight) >= 2 * workers:  # bound the text held in memory
                in_flight.popleft().result()
            fut = pool.submit(_tokenize_unit, backend, unit, tokens_path, marker_path, dtype, bos_id, eos_id)
            fut.add_done_callback(report)
            in_flight.append(fut)
            done.append(fut)
    return [d.result() if isinstance(d, Future) else d for d in done]


def _tokenize_unit(backend, unit: Unit, tokens_path: Path, marker_path: Path, dtype, bos_id: int, eos_id: int) -> dict:
    # encode_batch_fast: the same ids without character offsets, which packing does not need
    # (about a quarter faster than encode_batch on this machine).
    ids = [e.ids for e in backend.encode_batch_fast(unit.texts, add_special_tokens=False)]
    lengths = [len(d) + 2 for d in ids]
    tokens = np.empty(sum(lengths), dtype=dtype)
    offset = 0
    for doc, n in zip(ids, lengths):
        tokens[offset] = bos_id
        tokens[offset + 1 : offset + n - 1] = doc
        tokens[offset + n - 1] = eos_id
        offset += n
    names = sorted(set(unit.sources))
    ids = {s: i for i, s in enumerate(names)}
    marker = {
        "lengths": lengths,
        "source_names": names,
        "source_ids": [ids[s] for s in unit.sources],
        "counts": unit.counts,
        "quarantine": unit.quarantine,
    }
    atomic_write_bytes(tokens_path, tokens.tobytes())
    atomic_write_json(marker_path, marker)  # last: marks the unit done
    return marker
