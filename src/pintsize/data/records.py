"""Reading a corpus: a corpus artifact (`data/*.parquet`), Parquet or JSONL files, or folders of them.

One policy for bad input wherever a corpus is read (pack, tokenizer train and compare):
- `text` is required: a Parquet file without a `text` column, or a JSONL file whose first
  record has no `text`, is an error that names the file;
- `source` is optional and defaults to the file's stem;
- a broken record (a line that is not JSON or not an object, a later record without `text`,
  a `text` that is not a string) is not fatal: it is yielded as `Broken` to be counted and
  quarantined;
- invalid UTF-8 (undecodable bytes, or lone surrogates from JSON `\\ud800` escapes) is replaced
  by U+FFFD and the record is flagged `utf8_replaced`;
- a record whose text is empty or only whitespace is yielded with `empty` set, for the
  caller to count and skip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from pintsize.artifacts import MANIFEST
from pintsize.errors import DataError

PARQUET_SUFFIXES = (".parquet",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_BATCH_ROWS = 1024


@dataclass(frozen=True)
class Record:
    text: str
    source: str
    where: str  # "file:line N" or "file:row N"
    utf8_replaced: bool = False

    @property
    def empty(self) -> bool:
        return not self.text.strip()


@dataclass(frozen=True)
class Broken:
    where: str
    reason: str


def corpus_files(path: str | Path) -> list[Path]:
    """The data files of a corpus artifact, of a folder (recursively, sorted), or the file itself."""
    path = Path(path)
    if path.is_file():
        if not path.name.endswith(PARQUET_SUFFIXES + JSONL_SUFFIXES):
            raise DataError(f"{path}: not a corpus file (expected .parquet or .jsonl)")
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such corpus file or directory")
    if (path / MANIFEST).is_file() and (path / "data").is_dir():
        files = sorted((path / "data").glob("*.parquet"))
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(PARQUET_SUFFIXES + JSONL_SUFFIXES))
    if not files:
        raise DataError(f"{path}: no .parquet or .jsonl files")
    return files


def read_corpus(path: str | Path, progress: Callable[[int], None] | None = None) -> Iterator[Record | Broken]:
    """Every record of the corpus at `path`, in file order. `progress(n)` is told about each n bytes read."""
    for file in corpus_files(path):
        reader = _read_parquet if file.name.endswith(PARQUET_SUFFIXES) else _read_jsonl
        yield from reader(file, progress or (lambda n: None))


def iter_texts(path: str | Path, max_docs_per_source: int | None = None) -> Iterator[tuple[str, str]]:
    """(text, source) of the good, non-empty records; at most `max_docs_per_source` from each source.
    A corpus with none (empty, or every record broken) is a DataError: there is nothing to learn from."""
    seen: dict[str, int] = {}
    broken, empty = [], 0
    for rec in read_corpus(path):
        if isinstance(rec, Broken):
            broken.append(rec)
            continue
        if rec.empty:
            empty += 1
            continue
        n = seen.get(rec.source, 0)
        if max_docs_per_source is None or n < max_docs_per_source:
            seen[rec.source] = n + 1
            yield rec.text, rec.source
    if not seen:
        first = f"; first: {broken[0].where}: {broken[0].reason}" if broken else ""
        raise DataError(f"{path}: no usable documents ({len(broken)} broken and {empty} empty records){first}")


def total_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in corpus_files(path))


# ---------------------------------------------------------------- formats


def _read_parquet(file: Path, progress: Callable[[int], None]) -> Iterator[Record | Broken]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(file)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{file}: not a readable Parquet file ({e})") from None
    schema = pf.schema_arrow
    if "text" not in schema.names:
        raise DataError(f"{file}: no 'text' column (columns: {', '.join(schema.names)})")
    text_type = schema.field("text").type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type) or pa.types.is_binary(text_type) or pa.types.is_large_binary(text_type)):
        raise DataError(f"{file}: column 'text' has type {text_type}, expected a string")
    has_source = "source" in schema.names
    default_source = file.stem
    rows = max(pf.metadata.num_rows, 1)
    size = file.stat().st_size
    row = 0
    for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=["text", "source"] if has_source else ["text"]):
        # As bytes, so that invalid UTF-8 is ours to replace rather than an exception.
        texts = batch.column("text").cast(pa.large_binary()).to_pylist()
        sources = batch.column("source").to_pylist() if has_source else [None] * len(texts)
        for raw, source in zip(texts, sources):
            text, replaced = _decode(raw or b"")
            yield Record(text, source if isinstance(source, str) and source else default_source, f"{file}:row {row}", replaced)
            row += 1
        progress(size * len(texts) // rows)


def _read_jsonl(file: Path, progress: Callable[[int], None]) -> Iterator[Record | Broken]:
    default_source = file.stem
    first = True
    with open(file, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            progress(len(raw))
            if not raw.strip():
                continue
            where = f"{file}:line {lineno}"
            line, replaced = _decode(raw)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield Broken(where, f"not JSON ({e.msg})")
                first = False
                continue
            if not isinstance(obj, dict):
                yield Broken(where, f"not a JSON object (a {type(obj).__name__})")
                first = False
                continue
            if "text" not in obj:
                if first:
                    raise DataError(f"{where}: no 'text' field (fields: {', '.join(obj) or 'none'})")
                yield Broken(where, "no 'text' field")
                continue
            first = False
            text = obj["text"]
            if text is None:
                text = ""
            if not isinstance(text, str):
                yield Broken(where, f"'text' is a {type(text).__name__}, not a string")
                continue
            text, lone_surrogates = _fix_surrogates(text)
            source = obj.get("source")
            yield Record(text, source if isinstance(source, str) and source else default_source, where, replaced or lone_surrogates)


def _decode(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def _fix_surrogates(text: str) -> tuple[str, bool]:
    """JSON may escape lone surrogates, which are not text: replace them by U+FFFD."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        # Through UTF-16, valid surrogate pairs become their characters and lone ones U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), True
