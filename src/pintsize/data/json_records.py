"""Records for post-training data: JSON objects from JSONL/Parquet files or from a built-in demo
set, and the account of what became of each (kept, skipped with a reason, or quarantined).

One policy for bad input, shared by chat and preference data: a record that cannot be read
(not JSON, not an object, missing the fields of its format) is quarantined; a readable record
that cannot be trained on is skipped; both are counted by reason, so records = kept + skipped +
quarantined, and listed one per line in `rejects.jsonl`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pintsize.artifacts import atomic_write_json, atomic_write_text
from pintsize.errors import DataError

SUFFIXES = (".jsonl", ".ndjson", ".parquet")
BUILTIN = "builtin:"


class Invalid(Exception):
    """A record that cannot be used; the message is the reason recorded in the report."""


@dataclass(frozen=True)
class Rejected:
    where: str  # "file:line N", "file:row N" or "builtin:docs-chat:record N"
    reason: str
    broken: bool  # True: unreadable (quarantined); False: readable but unusable (skipped)


@dataclass
class DataReport:
    """What became of every input record: kept, skipped (with reasons) or quarantined."""

    records: int = 0
    kept: int = 0
    truncated: int = 0
    trimmed: Counter = field(default_factory=Counter)  # conversations that had a turn dropped, by which
    skipped: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    rejects: list[dict] = field(default_factory=list)

    def reject(self, r: Rejected) -> None:
        (self.quarantined if r.broken else self.skipped)[r.reason] += 1
        self.rejects.append({"where": r.where, "reason": r.reason, "quarantined": r.broken})

    def skip(self, where: str, reason: str) -> None:
        self.reject(Rejected(where, reason, broken=False))

    def to_dict(self) -> dict:
        return {
            "records": self.records,
            "kept": self.kept,
            "skipped": sum(self.skipped.values()),
            "quarantined": sum(self.quarantined.values()),
            "truncated": self.truncated,
            "trimmed_by_reason": dict(self.trimmed.most_common()),
            "skipped_by_reason": dict(self.skipped.most_common()),
            "quarantined_by_reason": dict(self.quarantined.most_common()),
        }

    def write(self, out_dir: Path) -> None:
        """`report.json` (the counts) and `rejects.jsonl` (one line per skipped or quarantined record)."""
        atomic_write_json(out_dir / "report.json", self.to_dict())
        atomic_write_text(out_dir / "rejects.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rejects))


# ---------------------------------------------------------------- files of JSON objects


def data_files(entry: str) -> list[Path]:
    """The JSONL/Parquet files of a data entry: a file, or every such file under a folder (sorted)."""
    path = Path(entry)
    if path.is_file():
        if not path.name.endswith(SUFFIXES):
            raise DataError(f"{path}: not a data file (expected .jsonl or .parquet)")
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        if not files:
            raise DataError(f"{path}: no .jsonl or .parquet files in this folder")
        return files
    raise DataError(f"{entry}: no such data file or folder")


def read_objects(file: Path) -> Iterator[tuple[str, dict | Rejected]]:
    """(where, record) for every record of a JSONL or Parquet file; unreadable ones as Rejected."""
    if file.name.endswith(".parquet"):
        yield from _read_parquet(file)
        return
    with open(file, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{file}:line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield where, Rejected(where, f"not JSON ({e.msg})", broken=True)
                continue
            if not isinstance(obj, dict):
                yield where, Rejected(where, f"not a JSON object (a {type(obj).__name__})", broken=True)
                continue
            yield where, obj


def _read_parquet(file: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(file)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{file}: not a readable Parquet file ({e})") from None
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for rec in batch.to_pylist():
            yield f"{file}:row {row}", rec
            row += 1


def builtin_count(entry: str, name: str) -> int | None:
    """For `builtin:NAME` or `builtin:NAME:N`: how many records (-1: all); None for another entry."""
    if not entry.startswith(BUILTIN):
        return None
    rest = entry[len(BUILTIN) :]
    base, _, count = rest.partition(":")
    if base != name:
        return None
    if count and not (count.isdigit() and int(count) > 0):
        raise DataError(f"{entry}: the count after '{BUILTIN}{name}:' must be a positive integer")
    return int(count) if count else -1


def check_builtin(entry: str, known: Iterable[str]) -> None:
    if entry.startswith(BUILTIN) and entry[len(BUILTIN) :].partition(":")[0] not in known:
        raise DataError(f"{entry}: unknown built-in data set (known here: {', '.join(BUILTIN + k for k in known)})")


def iter_entry_records(entry: str, name: str, make: Callable[[int], list[dict]]) -> Iterator[tuple[str, dict | Rejected]]:
    """The records of one data entry: the built-in set `name` (made by `make(n)`, n large for
    "all") or files."""
    check_builtin(entry, [name])
    n = builtin_count(entry, name)
    if n is not None:
        for i, rec in enumerate(make(n if n > 0 else 1 << 30)):
            yield f"{entry}:record {i}", rec
        return
    for file in data_files(entry):
        yield from read_objects(file)
