"""An LLM-label file whose labels change nothing gets a warning (reading and checking label files:
`pintsize.curate.quality.read_label_file`)."""

from __future__ import annotations


def llm_labels_warning(llm_records: list[dict], metadata: dict) -> str | None:
    """A warning when the LLM labels added nothing to a trained model: every one of them was
    overridden by a human label (`train_quality_model`'s metadata counts those)."""
    distinct = len({r["text"] for r in llm_records})
    overridden = metadata.get("examples", {}).get("llm_labels_overridden", 0)
    if distinct and overridden >= distinct:
        return f"the {distinct} LLM labels add no label: a human label overrides every one of them"
    return None
