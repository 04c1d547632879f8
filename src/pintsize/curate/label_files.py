"""Label files checked before training: an empty one is an error (it is always a mistake: an
annotation that labelled nothing, a wrong export), and an LLM-label file whose labels change
nothing gets a warning."""

from __future__ import annotations

from pathlib import Path

from pintsize.curate.quality import read_label_file
from pintsize.errors import DataError


def read_labels(path: str | Path, where: str) -> list[dict]:
    """The checked records of a label file; `where` names the option or field ("--llm-labels")."""
    records = read_label_file(path)
    if not records:
        raise DataError(f"{where} {path}: the file holds no label records (empty); nothing to train on")
    return records


def llm_labels_warning(llm_records: list[dict], metadata: dict) -> str | None:
    """A warning when the LLM labels added nothing to a trained model: every one of them was
    overridden by a human label (`train_quality_model`'s metadata counts those)."""
    distinct = len({r["text"] for r in llm_records})
    overridden = metadata.get("examples", {}).get("llm_labels_overridden", 0)
    if distinct and overridden >= distinct:
        return f"the {distinct} LLM labels add no label: a human label overrides every one of them"
    return None
