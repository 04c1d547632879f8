"""What flows through the curation steps: datatrove Documents, and the records of removed ones.

A kept document is a `datatrove.data.Document` whose metadata holds `source` (the source name)
and `meta` (a dict: the record's other fields, plus what the steps learn: language, PII counts).
A removed or quarantined document becomes a `Removed`, written to the rejects files.
"""

from __future__ import annotations

from dataclasses import dataclass

from datatrove.data import Document

EXCERPT_CHARS = 300


@dataclass
class Removed:
    id: str
    source: str
    text: str
    meta: dict
    step: str
    reason: str

    def excerpt(self) -> dict:
        return {"id": self.id, "source": self.source, "excerpt": self.text[:EXCERPT_CHARS]}


def make_document(doc_id: str, text: str, source: str, meta: dict | None = None) -> Document:
    return Document(text=text, id=doc_id, metadata={"source": source, "meta": dict(meta or {})})


def removed(doc: Document, step: str, reason: str, **meta_extra) -> Removed:
    meta = {**doc.metadata["meta"], **meta_extra}
    return Removed(doc.id, doc.metadata["source"], doc.text, meta, step, reason)


def words(text: str) -> int:
    """The token count of the stats: whitespace-separated words."""
    return len(text.split())

