"""Parquet files of documents: rejects tables, metadata as JSON, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pintsize.artifacts import atomic_write_bytes
from pintsize.curate.records import Removed

REJECT_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string()),
     ("step", pa.string()), ("reason", pa.string())]
)


def meta_json(meta: dict) -> str:
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)


def rejects_table(items: list[Removed]) -> pa.Table:
    return pa.table(
        {
            "id": [r.id for r in items],
            "text": [r.text for r in items],
            "source": [r.source for r in items],
            "meta": [meta_json(r.meta) for r in items],
            "step": [r.step for r in items],
            "reason": [r.reason for r in items],
        },
        schema=REJECT_SCHEMA,
    )


def write_table(table: pa.Table, path: Path) -> None:
    """Write a Parquet file atomically (a crash never leaves a truncated file under the name)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
