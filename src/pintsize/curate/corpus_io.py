"""Parquet files of documents: the corpus parts, the rejects, and the shards' working files."""

from __future__ import annotations

import json
from collections.abc import Iterator
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


def corpus_files(path: Path) -> list[Path]:
    """The data parts of a corpus artifact (or a single Parquet/JSONL file, or a directory of them)."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted((path / "data").glob("part-*.parquet")) or sorted(
        [*path.glob("*.parquet"), *path.glob("*.jsonl")]
    )
    return files


def iter_texts(path: Path, text_field: str = "text") -> Iterator[str]:
    """The texts of a corpus, a Parquet file or a JSONL file (for training and scoring)."""
    for f in corpus_files(path):
        if f.suffix == ".parquet":
            for batch in pq.ParquetFile(f).iter_batches(columns=[text_field]):
                yield from (t for t in batch.column(0).to_pylist() if t)
        else:
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)[text_field]
