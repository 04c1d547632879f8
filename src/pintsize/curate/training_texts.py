"""Documents to train or test the quality model on, from whatever holds them: a corpus
artifact, JSONL or Parquet files (a `text` field), a text file (one document) or a directory of
text files (one document each). Records that cannot be read are skipped, as curate quarantines
them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pintsize.artifacts import MANIFEST
from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.curate.readers import read_shard
from pintsize.curate.records import Removed
from pintsize.curate.shards import plan_shards
from pintsize.errors import DataError


def _format(path: Path) -> tuple[str, str]:
    if path.is_dir() and (path / MANIFEST).is_file() and (path / "data").is_dir():
        return str(path / "data"), "parquet"  # a corpus artifact
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        return str(path), "jsonl"
    if name.endswith(".parquet"):
        return str(path), "parquet"
    return str(path), "text"


def load_texts(path: str | Path, text_field: str = "text") -> Iterator[str]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    where, fmt = _format(path)
    source = SourceConfig(name="examples", path=where, format=fmt, text_field=text_field)
    config = DataConfig(sources=[source], shard_mb=1e6)
    for spec in plan_shards(config):
        for item in read_shard(spec, source, config.max_doc_bytes):
            if not isinstance(item, Removed):
                yield item.text
