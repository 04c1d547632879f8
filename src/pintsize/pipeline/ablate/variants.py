"""The data variants of an ablation: each is the recipe's [data] with some curation switched off.

Every variant reads the same raw documents: the recipe's sources after the held-out split and
the removal of copies of held-out text (`ablate.split`), so the variants differ only in curation.
Decontamination against the recipe's evaluation sets ([data.decontamination]) stays on in every
variant: it is benchmark hygiene, not a quality step, and no variant may be scored on a
benchmark it has seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pintsize.curate.config import DataConfig, SourceConfig


def _off(**updates) -> Callable[[DataConfig], dict]:
    return lambda d: {k: getattr(d, k).model_copy(update=u) for k, u in updates.items()}


def _uncurated(d: DataConfig) -> dict:
    return {
        "normalize": d.normalize.model_copy(update={"enabled": False}),
        "language": d.language.model_copy(update={"enabled": False}),
        "heuristics": d.heuristics.model_copy(update={"enabled": False}),
        "dedup": d.dedup.model_copy(update={"exact": False, "near": False}),
        "pii": d.pii.model_copy(update={"enabled": False}),
        "quality": d.quality.model_copy(update={"model": None, "threshold": None, "top_percent": None}),
    }


def _no_quality(d: DataConfig) -> dict:
    return {"quality": d.quality.model_copy(update={"model": None, "threshold": None, "top_percent": None})}


# name -> (what it is, changes to [data], whether per-source curation settings are reset)
VARIANTS: dict[str, tuple[str, Callable[[DataConfig], dict], bool]] = {
    "curated": ("the recipe's [data] curation as written", lambda d: {}, False),
    "uncurated": (
        "the raw input: no normalization or HTML extraction, language ID, heuristics, dedup, PII masking, "
        "quality filter or mixture weights/caps",
        _uncurated,
        True,
    ),
    "no_normalize": ("curated without ftfy/whitespace normalization (HTML extraction stays)", _off(normalize={"enabled": False}), False),
    "no_language": ("curated without language identification", _off(language={"enabled": False}), False),
    "no_heuristics": ("curated without the heuristic filters", _off(heuristics={"enabled": False}), False),
    "no_dedup": ("curated without exact and near deduplication", _off(dedup={"exact": False, "near": False}), False),
    "no_pii": ("curated without PII masking", _off(pii={"enabled": False}), False),
    "no_quality": ("curated without the quality classifier", _no_quality, False),
    "no_mixture": ("curated without per-source weights and token caps", lambda d: {}, True),
}


def describe(name: str) -> str:
    return VARIANTS[name][0]


def variant_data(data: DataConfig, name: str, sources_dir: Path) -> DataConfig:
    """The [data] of variant `name`, reading the split's JSONL copies of the raw sources."""
    _, change, reset_sources = VARIANTS[name]
    sources = []
    for s in data.sources:
        update = {"path": str(Path(sources_dir) / f"{s.name}.jsonl"), "format": "jsonl", "text_field": "text"}
        if reset_sources:
            update |= {"weight": 1.0, "max_tokens": None}
            if name == "uncurated":
                update["html"] = "none"
        sources.append(SourceConfig.model_validate({**s.model_dump(), **update}))
    return data.model_copy(update={"sources": sources, **change(data)})
