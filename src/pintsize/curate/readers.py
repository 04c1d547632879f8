"""Reading one shard of a source: documents, and quarantined records with their reason.

Nothing a source holds crashes the run. A record that cannot become a document is quarantined
(step "read") with one of these reasons, and with where it came from (`path`, `line` or `row`):
malformed_json, not_an_object, invalid_utf8, lone_surrogate, missing_text_field, text_not_a_string,
empty, too_large, binary, unreadable_file, not_gzip, corrupt_gzip, truncated_gzip, wrong_schema.
Blank JSONL lines are not records and are skipped. A damaged file (a truncated or corrupt
`.jsonl.gz`, a Parquet file without the text column) is one quarantined record naming the file and
the line where the damage starts; every record read before it is kept, and the run goes on.

Document ids are `<source>/<file relative to the source>:<line>` (JSONL), `...#<row>` (Parquet),
`<source>/<file>` (text) or `<source>/<module>` (pydoc): unique and stable. A record's own
fields other than the text (its own `id` included) are kept in `meta`.
"""

from __future__ import annotations

import json
import re
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

from datatrove.data import Document

from pintsize.curate.config import SourceConfig
from pintsize.curate.records import Removed, make_document
from pintsize.curate.shards import ShardSpec, source_base

KEEP_CHARS = 65_536  # what a quarantined record too large or binary keeps of itself
_BINARY_PROBE = 8192

Item = Document | Removed


def read_shard(spec: ShardSpec, source: SourceConfig, max_doc_bytes: int) -> Iterator[Item]:
    if source.format == "pydoc":
        yield from _read_pydoc(spec, source)
        return
    base = source_base(source)
    if source.format in ("text", "man"):
        read = _read_manpage if source.format == "man" else _read_text_file
        for f in spec.files:
            yield read(Path(f), base, source, max_doc_bytes)
    elif source.format == "parquet":
        yield from _read_parquet(spec, base, source, max_doc_bytes)
    else:
        yield from _read_jsonl(spec, base, source, max_doc_bytes)


def _rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _quarantine(doc_id: str, source: SourceConfig, text: str, reason: str, meta: dict) -> Removed:
    return Removed(doc_id, source.name, text, meta, "read", reason)


def _lone_surrogate(record: object) -> bool:
    """JSON may escape half of a surrogate pair (`"\\ud800"`): Python decodes it into a str that
    no UTF-8 writer (Parquet, the tokenizer) accepts."""
    try:
        json.dumps(record, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _from_record(record: object, doc_id: str, source: SourceConfig, where: dict, max_doc_bytes: int) -> Item:
    if not isinstance(record, dict):
        return _quarantine(doc_id, source, json.dumps(record, default=str)[:KEEP_CHARS], "not_an_object", where)
    meta = {k: v for k, v in record.items() if k != source.text_field}
    if source.text_field not in record:
        return _quarantine(doc_id, source, "", "missing_text_field", {**meta, **where, "field": source.text_field})
    text = record[source.text_field]  # a null is there, and not a string: text_not_a_string below
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            return _quarantine(doc_id, source, text.decode("utf-8", "replace"), "invalid_utf8", {**where, "error": str(e)})
    if not isinstance(text, str):
        return _quarantine(
            doc_id, source, "" if text is None else str(text)[:KEEP_CHARS], "text_not_a_string", {**where, "field": source.text_field}
        )
    if not text.strip():
        return _quarantine(doc_id, source, text, "empty", {**meta, **where})
    if len(text.encode("utf-8")) > max_doc_bytes:
        return _quarantine(doc_id, source, text[:KEEP_CHARS], "too_large", {**where, "truncated": True})
    return make_document(doc_id, text, source.name, meta)


def _read_jsonl(spec: ShardSpec, base: Path, source: SourceConfig, max_doc_bytes: int) -> Iterator[Item]:
    path = Path(spec.path)
    rel = _rel(path, base)
    compressed = path.name.endswith(".gz")
    try:
        f = _GzipLines(path) if compressed else open(path, "rb")
    except OSError as e:
        yield _quarantine(f"{source.name}/{rel}", source, "", "unreadable_file", {"path": rel, "error": str(e)})
        return
    with f:
        if not compressed:
            f.seek(spec.start)
        pos, line_no = spec.start, spec.first_line
        for raw in f:
            if not compressed and pos >= spec.stop:
                break
            pos += len(raw)
            doc_id, where = f"{source.name}/{rel}:{line_no}", {"path": rel, "line": line_no}
            line_no += 1
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            if len(raw) > max_doc_bytes:
                text = raw[:KEEP_CHARS].decode("utf-8", "replace")
                yield _quarantine(doc_id, source, text, "too_large", {**where, "truncated": True, "bytes": len(raw)})
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield _quarantine(doc_id, source, raw.decode("utf-8", "replace"), "invalid_utf8", {**where, "error": str(e)})
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                yield _quarantine(doc_id, source, line, "malformed_json", {**where, "error": str(e)})
                continue
            if _SURROGATE_ESCAPE.search(raw) and _lone_surrogate(record):
                yield _quarantine(doc_id, source, line, "lone_surrogate", where)
                continue
            yield _from_record(record, doc_id, source, where, max_doc_bytes)
        if isinstance(f, _GzipLines) and f.damage:
            reason, error = f.damage
            where = {"path": rel, "line": line_no, "error": error}
            yield _quarantine(f"{source.name}/{rel}:{line_no}", source, f.tail, reason, where)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a cheap pre-check: only such lines can hold one


class _GzipLines:
    """The lines of a gzip file, and how it is damaged, if it is.

    Why not `gzip.open`: on a truncated file it raises EOFError from inside its read buffer and
    loses the lines decompressed before the damage; zlib's streaming decoder hands out everything
    it could decode (a corrupt stream loses only the chunk the damage is in). Concatenated gzip members (what `cat a.gz b.gz` makes) are read in turn."""

    CHUNK = 1 << 14  # a corrupt chunk loses what it would have decoded: keep them small

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")
        self.damage: tuple[str, str] | None = None  # (reason, error)
        self.tail = ""  # the incomplete last line of a damaged file, kept for the rejects

    def __enter__(self) -> "_GzipLines":
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[bytes]:
        decoder, pending, started = zlib.decompressobj(wbits=31), b"", False
        head = self._file.read(2)
        self._file.seek(0)
        if head and head != b"\x1f\x8b":  # gzip's magic number
            self.damage = ("not_gzip", f"the file starts with {head!r}, not gzip's magic number")
            return
        while True:
            chunk = decoder.unused_data or self._file.read(self.CHUNK)
            if decoder.unused_data:
                decoder = zlib.decompressobj(wbits=31)
            if not chunk:
                break
            try:
                out = decoder.decompress(chunk)
            except zlib.error as e:
                self.damage = ("corrupt_gzip", str(e))
                break
            started = True
            pending += out
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if self.damage is None and not decoder.eof and started:
            self.damage = ("truncated_gzip", "the compressed stream ends before its end-of-stream marker")
        if self.damage:  # the incomplete line the damage cut
            self.tail = pending[:KEEP_CHARS].decode("utf-8", "replace")
        elif pending:
            yield pending


def _read_parquet(spec: ShardSpec, base: Path, source: SourceConfig, max_doc_bytes: int) -> Iterator[Item]:
    import pyarrow.parquet as pq

    path = Path(spec.path)
    rel = _rel(path, base)
    try:
        pf = pq.ParquetFile(path)
        columns = pf.schema_arrow.names
        if source.text_field not in columns:
            error = f"no column {source.text_field!r}; columns are {', '.join(map(repr, columns)) or 'none'}"
            yield _quarantine(f"{source.name}/{rel}", source, "", "wrong_schema", {"path": rel, "error": error})
            return
        groups = list(range(spec.start, spec.stop))
        row = sum(pf.metadata.row_group(i).num_rows for i in range(spec.start))
        batches = pf.iter_batches(row_groups=groups) if groups else iter(())
        for batch in batches:
            for record in batch.to_pylist():
                doc_id, where = f"{source.name}/{rel}#{row}", {"path": rel, "row": row}
                row += 1
                yield _from_record(record, doc_id, source, where, max_doc_bytes)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a broken file
        yield _quarantine(f"{source.name}/{rel}", source, "", "unreadable_file", {"path": rel, "error": str(e)})


def _read_text_file(path: Path, base: Path, source: SourceConfig, max_doc_bytes: int) -> Item:
    rel = _rel(path, base)
    doc_id, where = f"{source.name}/{rel}", {"path": rel}
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            data = f.read(KEEP_CHARS if size > max_doc_bytes else size + 1)
    except OSError as e:
        return _quarantine(doc_id, source, "", "unreadable_file", {**where, "error": str(e)})
    if b"\0" in data[:_BINARY_PROBE]:
        text = data[:KEEP_CHARS].decode("utf-8", "replace")
        return _quarantine(doc_id, source, text, "binary", {**where, "bytes": size})
    if size > max_doc_bytes:
        text = data.decode("utf-8", "replace")
        return _quarantine(doc_id, source, text, "too_large", {**where, "truncated": True, "bytes": size})
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _quarantine(doc_id, source, data.decode("utf-8", "replace"), "invalid_utf8", {**where, "error": str(e)})
    if not text.strip():
        return _quarantine(doc_id, source, text, "empty", where)
    return make_document(doc_id, text, source.name, where)


def _read_manpage(path: Path, base: Path, source: SourceConfig, max_doc_bytes: int) -> Item:
    from pintsize.curate.manpages import render_manpage

    rel = _rel(path, base)
    doc_id, where = f"{source.name}/{rel}", {"path": rel}
    try:
        text = render_manpage(path)
    except (OSError, EOFError, zlib.error, subprocess.SubprocessError) as e:
        return _quarantine(doc_id, source, "", "unreadable_file", {**where, "error": str(e)})
    if len(text.encode()) > max_doc_bytes:
        return _quarantine(doc_id, source, text[:KEEP_CHARS], "too_large", {**where, "truncated": True})
    if not text.strip():
        return _quarantine(doc_id, source, text, "empty", where)
    return make_document(doc_id, text, source.name, where)


# pydoc draws each class body inside a "|" gutter with "-----" rules between sections: layout,
# not text. Removing it (indentation kept) leaves the documentation as a reader sees it.
_GUTTER = re.compile(r"^( *)\|(?:  ?|$)", re.M)
_RULE = re.compile(r"^ *-{20,}$", re.M)


def strip_pydoc_gutter(text: str) -> str:
    return _RULE.sub("", _GUTTER.sub(r"\1", text))


def _read_pydoc(spec: ShardSpec, source: SourceConfig) -> Iterator[Item]:
    from pintsize.data.pydoc_corpus import pydoc_documents

    for rec in pydoc_documents()[spec.start : spec.stop]:
        name = rec["meta"].get("module") or rec["id"]
        yield make_document(f"{source.name}/{name}", strip_pydoc_gutter(rec["text"]), source.name, rec["meta"])
