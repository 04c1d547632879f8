"""The [data] section: raw sources and the curation steps (pintsize curate).

Every step can be switched off. Thresholds default to FineWeb's (datatrove) values; the
heuristic rules are grouped in per-source profiles (see profiles.py), and a recipe overrides any
threshold of a profile, e.g.

    [data.heuristics.docs.gopher_quality]
    max_non_alpha_words_ratio = 0.5
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pintsize.config_base import Section
from pintsize.curate.profiles import PROFILES, ProfileName, ProfileRules

SourceFormat = Literal["jsonl", "parquet", "text", "man", "pydoc"]


class SourceConfig(Section):
    name: str = Field(description="a short name; it becomes the `source` column", pattern=r"^[A-Za-z0-9_.\-]+$")
    path: str | None = Field(
        None, description="a file, a directory or a glob pattern (`**` recurses); not used by format = pydoc"
    )
    format: SourceFormat = Field(
        "jsonl", description="jsonl | parquet | text (one document per file) | man (manual pages, rendered by groff) | pydoc (the stdlib documentation)"
    )
    text_field: str = Field("text", description="the field or column that holds the text (jsonl, parquet)")
    id_field: str | None = Field("id", description="the field that holds a document id; missing ids are made from file and line")
    profile: ProfileName | None = Field(
        None, description="which heuristic rules fit this text: web | prose | docs | code; default docs for pydoc, else web"
    )
    html: Literal["none", "trafilatura", "inscriptis"] = Field(
        "none",
        description="extract text from HTML first: trafilatura (main content, laid out a paragraph a line with blank "
        "lines between) or inscriptis (the whole page, tables kept)",
    )
    weight: float = Field(1.0, gt=0, description="mixture weight: below 1 keeps that share of documents, above 1 repeats them")
    max_tokens: int | None = Field(None, gt=0, description="mixture cap on this source's output tokens (whitespace words)")

    @model_validator(mode="after")
    def _check_path(self) -> "SourceConfig":
        if self.format != "pydoc" and not self.path:
            raise ValueError(f"source {self.name!r}: `path` is required for format = {self.format!r}")
        return self

    @property
    def rules_profile(self) -> ProfileName:
        return self.profile or ("docs" if self.format == "pydoc" else "web")


class NormalizeConfig(Section):
    enabled: bool = True
    ftfy: bool = Field(True, description="repair mojibake and control characters with ftfy (datatrove's FTFY settings)")
    whitespace: bool = Field(
        True, description="unify line ends, strip trailing spaces, collapse 3+ blank lines; indentation is kept (code)"
    )


class LanguageConfig(Section):
    enabled: bool = True
    languages: list[str] = Field(default_factory=lambda: ["en"], description="ISO 639-1 codes to keep")
    threshold: float = Field(0.65, ge=0.0, le=1.0, description="least py3langid probability of the predicted language")


class HeuristicsConfig(Section):
    """The heuristic filters, one rule set per profile; a recipe overrides single thresholds."""

    enabled: bool = True
    web: ProfileRules = Field(default_factory=lambda: PROFILES["web"].model_copy(deep=True))
    prose: ProfileRules = Field(default_factory=lambda: PROFILES["prose"].model_copy(deep=True))
    docs: ProfileRules = Field(default_factory=lambda: PROFILES["docs"].model_copy(deep=True))
    code: ProfileRules = Field(default_factory=lambda: PROFILES["code"].model_copy(deep=True))

    @model_validator(mode="before")
    @classmethod
    def _merge_onto_profiles(cls, data: Any) -> Any:
        """A partial profile table in a recipe overrides that profile's defaults, not the class defaults."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, rules in PROFILES.items():
            if isinstance(data.get(name), dict):
                merged[name] = _deep_merge(rules.model_dump(), data[name])
        return merged

    def rules(self, profile: ProfileName) -> ProfileRules:
        return getattr(self, profile)


class DedupConfig(Section):
    exact: bool = Field(True, description="drop documents whose normalized text (lowercase, no punctuation) is identical")
    near: bool = Field(True, description="drop near-duplicates found by MinHash LSH on word n-grams")
    scope: Literal["global", "source"] = Field("global", description="look for duplicates across all sources or within each")
    ngram: int = Field(5, ge=1, description="words per shingle")
    bands: int = Field(14, ge=1, description="LSH bands; with rows, sets the Jaccard a pair needs to be found")
    rows: int = Field(8, ge=1, description="MinHash values per band (bands x rows hashes in all)")
    seed: int = 1

    @property
    def threshold(self) -> float:
        """The Jaccard at which a pair is found with probability ~1/2: (1/bands)^(1/rows)."""
        return (1 / self.bands) ** (1 / self.rows)


class PIIConfig(Section):
    enabled: bool = True
    emails: bool = True
    ips: bool = Field(True, description="IPv4 addresses (public ones only, as datatrove)")
    phones: bool = Field(True, description="phone numbers written with separators (+1 555 123 4567, (555) 123-4567)")


class DecontaminationConfig(Section):
    paths: list[str] = Field(
        default_factory=list, description="evaluation files or directories (JSONL/JSON/text); empty = step off"
    )
    ngram: int = Field(13, ge=5, description="words per n-gram shared with an evaluation set")
    mode: Literal["drop", "cut"] = Field("drop", description="drop the document, or cut the matching spans out of it")
    cut_margin_words: int = Field(50, ge=0, description="words also cut on each side of a match (mode = cut)")
    min_words_after_cut: int = Field(50, ge=0, description="a cut document shorter than this is dropped")


class QualityConfig(Section):
    model: str | None = Field(
        None, description="a quality model directory (pintsize quality train) or builtin:expository (the general model); none = step off"
    )
    threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="keep documents scoring at least this (unset: the model's recommended threshold, else 0.5; "
        "unless top_percent, keep_top_fraction or keep_input_fraction is set)",
    )
    top_percent: float | None = Field(
        None, gt=0.0, le=100.0,
        description="instead of a threshold: keep this percentage of the documents that reach the quality step "
        "(those left after the heuristic filters and dedup), the best-scoring ones",
    )
    keep_top_fraction: float | None = Field(
        None, gt=0.0, le=1.0,
        description="the same as top_percent, as a fraction (DCLM keeps 0.1): ranked among the documents that reach "
        "the quality step (after the heuristic filters and dedup), not among all the documents read",
    )
    keep_input_fraction: float | None = Field(
        None, gt=0.0, le=1.0,
        description="instead: keep at most this fraction of all the documents read (the input), the best-scoring of "
        "those that reach the quality step; all of those when the earlier steps left fewer",
    )

    @model_validator(mode="after")
    def _one_rule(self) -> "QualityConfig":
        rules = (self.threshold, self.top_percent, self.keep_top_fraction, self.keep_input_fraction)
        if sum(x is not None for x in rules) > 1:
            raise ValueError("set only one of threshold, top_percent, keep_top_fraction and keep_input_fraction")
        if self.keep_top_fraction is not None:
            # Stored as top_percent (what reduce reads); set without re-validating the section.
            object.__setattr__(self, "top_percent", 100.0 * self.keep_top_fraction)
            object.__setattr__(self, "keep_top_fraction", None)
        return self

    @property
    def effective_threshold(self) -> float | None:
        if self.top_percent is not None or self.keep_input_fraction is not None:
            return None
        return 0.5 if self.threshold is None else self.threshold


def _pydoc_source() -> list[SourceConfig]:
    return [SourceConfig(name="python-docs", format="pydoc")]


class DataConfig(Section):
    sources: list[SourceConfig] = Field(
        default_factory=_pydoc_source, description="raw text; default: the stdlib documentation (format = pydoc)"
    )
    shard_mb: float = Field(32.0, gt=0, description="input megabytes per shard: the grain of parallel work and of resuming")
    max_doc_bytes: int = Field(10_000_000, gt=0, description="longer documents are quarantined")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    heuristics: HeuristicsConfig = Field(default_factory=HeuristicsConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    pii: PIIConfig = Field(default_factory=PIIConfig)
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> "DataConfig":
        names = [s.name for s in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source names must be unique; repeated: {', '.join(repeated)}")
        return self


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out
