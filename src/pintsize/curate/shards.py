"""Cutting the sources into shards: the unit of parallel work and of resuming.

The plan depends only on the files and on `shard_mb`, never on the number of workers or the
executor, so every run of a recipe cuts the same shards and writes the same output.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.data.shards import plan_shards as group_by_size
from pintsize.errors import DataError

_EXTENSIONS = {"jsonl": (".jsonl", ".jsonl.gz"), "parquet": (".parquet",)}


@dataclass(frozen=True)
class ShardSpec:
    """One shard: a byte range of a JSONL file (lines [first_line, ...)), a range of a Parquet
    file's row groups, a list of text files, or a range of the pydoc documents."""

    index: int
    source: int  # position of the source in the recipe
    path: str = ""
    start: int = 0
    stop: int = 0
    first_line: int = 1
    files: tuple[str, ...] = ()


def source_base(source: SourceConfig) -> Path:
    """The directory that document ids of a source are relative to."""
    p = Path(os.path.expanduser(source.path or ""))
    if p.is_file():
        return p.parent
    return p if p.is_dir() else Path(_glob_base(str(p)))


def source_files(source: SourceConfig) -> list[Path]:
    """The sorted files a source names (a file, every file under a directory, or a glob)."""
    p = Path(os.path.expanduser(source.path or ""))
    if p.is_file():
        return [p]
    exts = _EXTENSIONS.get(source.format)
    files = _real_files(p.rglob("*") if p.is_dir() else _glob(str(p)), exts)
    if not files:
        wanted = f" ({', '.join(exts)})" if exts else ""
        raise DataError(f"[data] source {source.name!r}: no files{wanted} match {source.path!r}")
    return files


def _glob(pattern: str) -> list[Path]:
    """The paths a glob pattern matches, hidden names skipped as `glob.glob` does. pathlib's `**`
    (like `rglob`) does not descend into symlinked directories, where `glob.glob` does: a link
    loop (`a -> .`) made curation hang."""
    parts = Path(pattern).parts
    base = Path(_glob_base(pattern))
    rest = parts[len(base.parts) :] if str(base) != "." else parts
    if not rest:
        return [base]
    wants_hidden = any(x.startswith(".") for x in rest)
    return [
        f for f in base.glob(str(Path(*rest)))
        if wants_hidden or not any(x.startswith(".") for x in f.relative_to(base).parts)
    ]


def _real_files(candidates: Iterable[Path], exts: tuple[str, ...] | None) -> list[Path]:
    """Sorted regular files (symlinked files are skipped), each real file once: a pattern such as
    `*/x.jsonl` can still reach one file through a directory link (the path without a link wins)."""
    by_real: dict[Path, Path] = {}
    for f in sorted(candidates):
        if not f.is_file() or f.is_symlink() or (exts is not None and not f.name.endswith(exts)):
            continue
        real = f.resolve()
        if real not in by_real or f.absolute() == real:  # prefer the path without a link in it
            by_real[real] = f
    return sorted(by_real.values())


def _glob_base(pattern: str) -> str:
    """The directory part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    first_magic = next((i for i, x in enumerate(parts) if glob.has_magic(x)), len(parts))
    return str(Path(*parts[:first_magic])) if first_magic else "."


def plan_shards(config: DataConfig) -> list[ShardSpec]:
    shard_bytes = int(config.shard_mb * 1_000_000)
    shards: list[ShardSpec] = []

    def add(**kw) -> None:
        shards.append(ShardSpec(index=len(shards), **kw))

    for si, source in enumerate(config.sources):
        if source.format == "pydoc":
            from pintsize.data.pydoc_corpus import pydoc_documents

            for start, stop in group_by_size([len(d["text"]) for d in pydoc_documents()], shard_bytes):
                add(source=si, start=start, stop=stop)
            continue
        files = source_files(source)
        if source.format in ("text", "man"):
            sizes = [f.stat().st_size for f in files]
            for start, stop in group_by_size(sizes, shard_bytes):
                add(source=si, files=tuple(str(f) for f in files[start:stop]))
        elif source.format == "parquet":
            for f in files:
                for start, stop in _parquet_groups(f, shard_bytes):
                    add(source=si, path=str(f), start=start, stop=stop)
        else:
            for f in files:
                for start, stop, line in _jsonl_ranges(f, shard_bytes):
                    add(source=si, path=str(f), start=start, stop=stop, first_line=line)
    return shards


def _jsonl_ranges(path: Path, limit: int) -> list[tuple[int, int, int]]:
    """Byte ranges that start at line starts, with the number of their first line. Compressed
    files are one shard (they cannot be entered in the middle)."""
    size = path.stat().st_size
    if size <= limit or path.name.endswith(".gz"):
        return [(0, size, 1)]
    ranges, start, start_line, pos, line = [], 0, 1, 0, 1
    with open(path, "rb") as f:
        for raw in f:
            pos += len(raw)
            line += 1
            if pos - start >= limit:
                ranges.append((start, pos, start_line))
                start, start_line = pos, line
    if pos > start:
        ranges.append((start, pos, start_line))
    return ranges


def _parquet_groups(path: Path, limit: int) -> list[tuple[int, int]]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - an unreadable file is quarantined by the reader, not fatal here
        return [(0, 0)]
    sizes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
    return group_by_size(sizes, limit) or [(0, 0)]
