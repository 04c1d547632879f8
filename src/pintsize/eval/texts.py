"""Held-out text for perplexity: documents read from a corpus artifact, JSONL, Parquet or text files.

A broken record (a line that is not JSON, a record without a "text" string) is counted and
quarantined with the file and line it came from, never fatal; empty documents are filtered.
Every record read is accounted for: read = kept + filtered + quarantined.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pintsize.errors import DataError

TEXT_SUFFIXES = (".txt", ".md", ".rst")
MAX_PROBLEMS_KEPT = 20


@dataclass
class TextStats:
    kept: int = 0
    filtered: int = 0
    quarantined: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.kept + self.filtered + self.quarantined

    def quarantine(self, where: str, why: str) -> None:
        self.quarantined += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(f"{where}: {why}")


def read_texts(path: str | Path, limit: int | None = None) -> tuple[list[str], TextStats]:
    """Up to `limit` non-empty documents from `path`, in a stable order, and the counts of what was read."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    stats, texts = TextStats(), []
    for where, text in _records(path, stats):
        if limit is not None and len(texts) >= limit:
            break
        if not isinstance(text, str):
            stats.quarantine(where, f"'text' is not a string (got {type(text).__name__})")
        elif not text.strip():
            stats.filtered += 1
        else:
            stats.kept += 1
            texts.append(text)
    if not texts:
        detail = f" ({'; '.join(stats.problems[:3])})" if stats.problems else ""
        raise DataError(f"{path}: no usable documents among {stats.read} records read{detail}")
    return texts, stats


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    data = path / "data"  # a corpus artifact keeps its documents in data/part-*.parquet
    root = data if (path / "manifest.json").is_file() and data.is_dir() else path
    files = sorted(p for p in root.rglob("*") if p.is_file() and _kind(p) is not None)
    if not files:
        raise DataError(f"{path}: no .jsonl, .parquet or text files found")
    return files


def _kind(p: Path) -> str | None:
    name = p.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def _records(path: Path, stats: TextStats) -> Iterator[tuple[str, object]]:
    """(where, text) for every record; broken JSONL lines are quarantined here."""
    for f in _files(path):
        kind = _kind(f)
        if kind == "parquet":
            yield from _parquet_records(f)
        elif kind == "jsonl":
            opener = gzip.open if f.name.endswith(".gz") else open
            with opener(f, "rt", encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        stats.quarantine(f"{f}:{lineno}", f"not valid JSON ({e.msg})")
                        continue
                    if not isinstance(rec, dict) or "text" not in rec:
                        stats.quarantine(f"{f}:{lineno}", "no 'text' field")
                        continue
                    yield f"{f}:{lineno}", rec["text"]
        else:  # a text file (or a file of any other name given directly) is one document
            yield str(f), f.read_text(encoding="utf-8", errors="replace")


def _parquet_records(f: Path) -> Iterator[tuple[str, object]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(f)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataError(f"{f}: not a readable Parquet file ({e})") from e
    if "text" not in pf.schema_arrow.names:
        raise DataError(f"{f}: no 'text' column (columns: {', '.join(pf.schema_arrow.names)})")
    row = 0
    for batch in pf.iter_batches(columns=["text"], batch_size=1024):
        for text in batch.column(0).to_pylist():
            yield f"{f}:row {row}", text
            row += 1


def texts_from_shards(shards_dir: str | Path, split: str = "val", limit: int | None = None) -> tuple[list[str], TextStats]:
    """The documents of a split of `pintsize pack` shards, decoded back to text with the tokenizer
    that packed them (bits per byte needs the text's bytes, and the evaluated model may tokenize
    differently)."""
    from pintsize.artifacts import read_manifest
    from pintsize.data.shards import ShardSplit
    from pintsize.tokenizer import TokenizerInfo

    shards = ShardSplit.open(shards_dir, split)
    tok_path = read_manifest(shards_dir).get("inputs", {}).get("tokenizer", {}).get("path")
    if not tok_path or not Path(tok_path).exists():
        raise DataError(f"{shards_dir}: the tokenizer that packed these shards ({tok_path}) is not available to decode them")
    backend = TokenizerInfo.read(tok_path).backend
    stats, texts = TextStats(), []
    for i in range(shards.num_documents):
        if limit is not None and len(texts) >= limit:
            break
        text = backend.decode(shards.document(i).tolist(), skip_special_tokens=True)
        if text.strip():
            stats.kept += 1
            texts.append(text)
        else:
            stats.filtered += 1
    if not texts:
        raise DataError(f"{shards_dir}: the {split} split has no documents with text")
    return texts, stats
