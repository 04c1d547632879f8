"""Human labels as the quality classifier's training records (JSONL, one per line):

    {"text": ..., "label": 1 | 0, "id": ..., "source": ..., "educational_value": 0-5,
     "reviewer": ..., "note": ...}

label 1 = accept. In `consensus` mode each labelled document gives one record when its
reviewers agree (educational value: their mean, rounded half up; reviewer: their names joined
by commas) and none when they disagree; in `all` mode every reviewer's label is a record.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pintsize.artifacts import atomic_write_text
from pintsize.review.storage import ReviewDB

ExportMode = Literal["consensus", "all"]


@dataclass
class ExportResult:
    records: list[dict]
    labelled_documents: int
    disagreements: int  # documents left out in consensus mode


def label_records(db: ReviewDB, mode: ExportMode = "consensus") -> ExportResult:
    """The records in labelling order (by each document's first label)."""
    with db.read() as conn:
        rows = conn.execute(
            "SELECT l.doc_id, l.reviewer, l.label, l.educational_value, l.note, d.text, d.source "
            "FROM labels l JOIN documents d ON d.id = l.doc_id ORDER BY l.created, l.doc_id, l.reviewer"
        ).fetchall()
    by_doc: dict[str, list] = defaultdict(list)  # insertion order = first label's time
    for r in rows:
        by_doc[r["doc_id"]].append(r)
    records, disagreements = [], 0
    for doc_id, labels in by_doc.items():
        first = labels[0]
        base = {"text": first["text"], "id": doc_id, "source": first["source"]}
        if mode == "all":
            records += [_record(base, [r]) for r in labels]
        elif len({r["label"] for r in labels}) == 1:
            records.append(_record(base, labels))
        else:
            disagreements += 1
    return ExportResult(records, len(by_doc), disagreements)


def _record(base: dict, labels: list) -> dict:
    mean_value = sum(r["educational_value"] for r in labels) / len(labels)
    return {
        "text": base["text"],
        "label": labels[0]["label"],
        "id": base["id"],
        "source": base["source"],
        "educational_value": int(math.floor(mean_value + 0.5)),
        "reviewer": ",".join(r["reviewer"] for r in labels),
        "note": " | ".join(r["note"] for r in labels if r["note"]),
    }


def export_labels(db: ReviewDB, out: str | Path, mode: ExportMode = "consensus") -> ExportResult:
    """Write the records to `out` atomically (a crash leaves the old file or none, never half a file)."""
    result = label_records(db, mode)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.records))
    return result
