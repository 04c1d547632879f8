"""Reading a corpus artifact (`data/*.parquet`: id, text, source, meta and score columns) for review.

Two streaming passes keep memory flat on a big corpus: `read_index` keeps only each
document's id, source and sampling score; `read_documents` then fetches the chosen rows.
Records that cannot be reviewed (no id, text or source, meta that is not a JSON object, a
repeated id) are counted as broken and left out, never silently dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pintsize.errors import DataError

REQUIRED_COLUMNS = ("id", "text", "source", "meta")
_BATCH_ROWS = 4096


@dataclass
class CorpusIndex:
    """What sampling needs about every reviewable document, in corpus order."""

    ids: list[str]
    sources: list[str]
    scores: np.ndarray | None  # the sampling score (NaN where null); None when there is none
    broken: dict[str, int] = field(default_factory=dict)  # reason -> count


@dataclass
class Document:
    id: str
    text: str
    source: str
    meta: dict
    scores: dict[str, float]


def corpus_files(corpus: str | Path) -> list[Path]:
    """The corpus's Parquet files, each checked for the required string columns."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise DataError(f"{corpus}: not a corpus directory")
    files = sorted((corpus / "data").glob("*.parquet"))
    if not files:
        raise DataError(f"{corpus}: no data/*.parquet files (expected the output of `pintsize curate`)")
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (pa.ArrowInvalid, OSError) as e:
            raise DataError(f"{f}: not a readable Parquet file ({e})") from None
        for col in REQUIRED_COLUMNS:
            if col not in schema.names:
                raise DataError(f"{f}: missing column {col!r} (a corpus has {', '.join(REQUIRED_COLUMNS)})")
            if not (pa.types.is_string(schema.field(col).type) or pa.types.is_large_string(schema.field(col).type)):
                raise DataError(f"{f}: column {col!r} is {schema.field(col).type}, expected string")
    return files


def score_columns(files: list[Path]) -> list[str]:
    """Numeric columns present in every file (quality_score and the like)."""
    common = None
    for f in files:
        schema = pq.read_schema(f)
        numeric = {n for n in schema.names if pa.types.is_floating(schema.field(n).type) or pa.types.is_integer(schema.field(n).type)}
        common = numeric if common is None else common & numeric
    return sorted(common or ())


def _rows(files: list[Path], columns: list[str]) -> Iterator[dict]:
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=_BATCH_ROWS, columns=columns):
            yield from batch.to_pylist()


def _broken_reason(row: dict) -> str | None:
    for col in ("id", "text", "source"):
        if not row.get(col):
            return f"empty {col}"
    try:
        meta = json.loads(row["meta"]) if row.get("meta") else {}
    except json.JSONDecodeError:
        return "meta is not JSON"
    return None if isinstance(meta, dict) else "meta is not a JSON object"


def read_index(corpus: str | Path, score_column: str | None = None, quality_model: str | Path | None = None) -> CorpusIndex:
    """Ids, sources and sampling scores of every reviewable document. The score is the corpus's
    `score_column`, or, with `quality_model`, that model's score of each text."""
    files = corpus_files(corpus)
    columns = list(REQUIRED_COLUMNS)
    use_column = quality_model is None and score_column is not None and score_column in score_columns(files)
    if use_column:
        columns.append(score_column)
    model = None
    if quality_model is not None:
        from pintsize.curate.quality import QualityModel

        model = QualityModel.load(quality_model)
    ids: list[str] = []
    sources: list[str] = []
    scores: list[float] = []
    pending: list[str] = []  # texts waiting to be scored by the model, in batches
    broken: dict[str, int] = {}
    seen: set[str] = set()
    for row in _rows(files, columns):
        reason = _broken_reason(row) or ("repeated id" if row["id"] in seen else None)
        if reason:
            broken[reason] = broken.get(reason, 0) + 1
            continue
        seen.add(row["id"])
        ids.append(row["id"])
        sources.append(row["source"])
        if use_column:
            value = row[score_column]
            scores.append(math.nan if value is None else float(value))
        elif model is not None:
            pending.append(row["text"])
            if len(pending) >= _BATCH_ROWS:
                scores.extend(model.score(pending).tolist())
                pending = []
    if model is not None and pending:
        scores.extend(model.score(pending).tolist())
    has_scores = use_column or model is not None
    return CorpusIndex(ids, sources, np.asarray(scores, dtype=np.float64) if has_scores else None, broken)


def read_documents(corpus: str | Path, ids: set[str]) -> dict[str, Document]:
    """The full records of the documents with these ids."""
    files = corpus_files(corpus)
    numeric = score_columns(files)
    found: dict[str, Document] = {}
    for row in _rows(files, list(REQUIRED_COLUMNS) + numeric):
        if row["id"] in ids and row["id"] not in found and _broken_reason(row) is None:
            scores = {c: float(row[c]) for c in numeric if row[c] is not None and math.isfinite(row[c])}
            found[row["id"]] = Document(row["id"], row["text"], row["source"], json.loads(row["meta"] or "{}"), scores)
    return found
