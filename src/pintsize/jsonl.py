"""Strict JSONL reading for small, hand-made files (eval sets, label exports): every line must be
a JSON object, and the first bad one stops the read with its file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from pintsize.errors import DataError


def read_json_objects(path: str | Path, required: Mapping[str, type] = {}) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; `required` fields must have the given types."""
    path = Path(path)
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:  # an undecodable byte, kept as a lone surrogate by surrogateescape
                raise DataError(f"{path}:{lineno}: not UTF-8 text (a binary file?)") from None
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{path}:{lineno}: a JSON object was expected")
            for key, typ in required.items():
                if not isinstance(rec.get(key), typ):
                    raise DataError(f"{path}:{lineno}: field '{key}' must be a {typ.__name__} (got {rec.get(key)!r:.60})")
            yield lineno, rec
