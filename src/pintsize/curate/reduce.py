"""The reduce stage: decisions that need every shard's documents at once, made on light columns
(ids, sources, token counts, dedup keys, quality scores), in input order:

1. dedup_exact, 2. dedup_near (see dedup.py),
3. quality: keep scores >= threshold; or the top percent of the documents left (those that reach
   this step); or at most a fraction of all the documents read (`keep_input_fraction`), the best of those left,
4. mixture: per source, `weight` < 1 keeps that share of documents (chosen by a hash of the id,
   so the same ones every run), > 1 repeats documents; `max_tokens` keeps the best documents
   (by quality score when there is one, else in hash order) until the cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import xxhash

from pintsize.curate.config import DataConfig
from pintsize.curate.dedup import exact_duplicates, near_duplicates
from pintsize.errors import DataError

REDUCE_STEPS = ("dedup_exact", "dedup_near", "quality", "mixture")


@dataclass
class Decisions:
    removed_at: list[str | None]  # per document: the step that removed it
    reason: list[str | None]
    extra_meta: list[dict | None]  # what the rejects record says about the removal
    copies: np.ndarray  # output copies of every document (0 when removed)
    steps: tuple[str, ...]  # the reduce steps that ran
    summary: dict = field(default_factory=dict)


def _unit_hash(doc_id: str) -> float:
    return xxhash.xxh64_intdigest(doc_id) / 2.0**64


def decide(index: pa.Table, config: DataConfig, input_documents: int | None = None) -> Decisions:
    """`input_documents`: how many documents were read (for `keep_input_fraction`; default: the index's)."""
    n = index.num_rows
    ids = index.column("id").to_pylist()
    sources = index.column("source").to_pylist()
    tokens = index.column("tokens").to_numpy()
    removed_at: list[str | None] = [None] * n
    reason: list[str | None] = [None] * n
    extra: list[dict | None] = [None] * n
    alive = np.ones(n, dtype=bool)
    source_ids = {s: i for i, s in enumerate(dict.fromkeys(s.name for s in config.sources))}
    scopes = np.array([source_ids[s] for s in sources], dtype=np.uint64) if config.dedup.scope == "source" else None
    steps: list[str] = []
    summary: dict = {}

    def remove(i: int, step: str, why: str, **meta) -> None:
        alive[i] = False
        removed_at[i], reason[i], extra[i] = step, why, meta

    if config.dedup.exact and n:
        steps.append("dedup_exact")
        dup = exact_duplicates(index.column("exact_key").to_numpy(), scopes)
        for i in np.flatnonzero(dup >= 0):
            remove(int(i), "dedup_exact", "duplicate", duplicate_of=ids[dup[i]])
    if config.dedup.near and n:
        steps.append("dedup_near")
        bands = index.column("bands").combine_chunks().flatten().to_numpy().reshape(n, config.dedup.bands)
        near = near_duplicates(bands, alive, scopes)
        for i in np.flatnonzero(near >= 0):
            remove(int(i), "dedup_near", "near_duplicate", near_duplicate_of=ids[near[i]])
        summary["dedup"] = {
            "bands": config.dedup.bands,
            "rows": config.dedup.rows,
            "ngram": config.dedup.ngram,
            "jaccard_at_half_recall": round(config.dedup.threshold, 4),
        }

    scores = index.column("quality_score").to_numpy(zero_copy_only=False) if "quality_score" in index.column_names else None
    if config.quality.model and scores is not None:
        steps.append("quality")
        q = config.quality
        threshold = q.effective_threshold
        if q.threshold is None and threshold is not None:
            from pintsize.curate.quality import recommended_threshold

            threshold = recommended_threshold(q.model)  # the model's own (builtin:expository stores one), else 0.5
        read = n if input_documents is None else input_documents
        if q.top_percent is not None and alive.any():
            threshold = float(np.quantile(scores[alive], 1.0 - q.top_percent / 100.0))
        elif q.keep_input_fraction is not None and alive.any():
            keep = int(q.keep_input_fraction * read)
            ranked = np.sort(scores[alive])[::-1]
            threshold = float(ranked[min(keep, len(ranked)) - 1]) if keep else float(np.nextafter(ranked[0], np.inf))
        summary["quality"] = {
            "model": q.model, "threshold": threshold, "top_percent": q.top_percent, "keep_input_fraction": q.keep_input_fraction,
            "reached": int(alive.sum()), "input_documents": read,  # what the share is of
        }
        before = alive.copy()
        for i in np.flatnonzero(alive & (scores < (threshold if threshold is not None else -1.0))):
            remove(int(i), "quality", "below_threshold", quality_score=round(float(scores[i]), 4), threshold=threshold)
        summary["quality"]["kept"] = int(alive.sum())
        if threshold is not None:
            summary["quality"] |= describe_operating_point(q.model, threshold, before, alive, sources)

    copies = alive.astype(np.int64)
    if any(s.weight != 1.0 or s.max_tokens for s in config.sources) and n:
        steps.append("mixture")
        _mix(config, ids, sources, tokens, scores, alive, copies, remove)
    return Decisions(removed_at, reason, extra, copies, tuple(steps), summary)


KEEPS_ALL, KEEPS_NONE = 0.99, 0.01  # a quality cut outside these shares of a source is no cut, or a wipe-out


def describe_operating_point(model_dir: str, threshold: float, before: np.ndarray, after: np.ndarray, sources) -> dict:
    """What the cut means: the share kept here, the precision and recall of `score >= threshold`
    on the model's held-out labels, and a warning per source kept (nearly) whole or (nearly) not at all."""
    from pintsize.curate.quality import QualityModel

    info: dict = {"keep_share": round(float(after.sum() / before.sum()), 4) if before.any() else None}
    try:
        model = QualityModel.load(model_dir)
        info["heldout"] = model.operating_point(threshold)
        info["heldout_source"] = (model.metadata or {}).get("heldout_source")  # e.g. labels of the corpus (`quality label`)
    except DataError:  # scores given without a loadable model: nothing to say about precision
        info["heldout"] = None
    warnings = []
    names = np.array(sources)
    for name in sorted(set(sources)):
        n_in = int((before & (names == name)).sum())
        n_out = int((after & (names == name)).sum())
        if n_in >= 10 and not KEEPS_NONE < n_out / n_in < KEEPS_ALL:
            what = "keeps (nearly) all" if n_out / n_in >= KEEPS_ALL else "keeps (nearly) none"
            warnings.append(
                f"quality threshold {threshold:.3g} {what} of source {name!r}: {n_out:,} of its {n_in:,} documents that reached the quality step"
            )
    info["warnings"] = warnings
    return info


def _mix(config, ids, sources, tokens, scores, alive, copies, remove) -> None:
    u = np.array([_unit_hash(i) for i in ids])
    for src in config.sources:
        members = np.flatnonzero(alive & (np.array(sources) == src.name))
        whole, frac = divmod(src.weight, 1.0)
        for i in members:
            c = int(whole) + (1 if u[i] < frac else 0)
            if c == 0:
                remove(int(i), "mixture", "subsample", weight=src.weight)
                copies[i] = 0
            else:
                copies[i] = c
        if src.max_tokens:
            left = members[copies[members] > 0]
            # Best first: highest quality score, then a stable pseudo-random order.
            key = (-scores[left] if scores is not None else np.zeros(len(left)), u[left])
            order = left[np.lexsort((key[1], key[0]))]
            used = 0
            for i in order:
                cost = int(tokens[i]) * int(copies[i])
                if used + cost > src.max_tokens:
                    remove(int(i), "mixture", "token_cap", max_tokens=src.max_tokens)
                    copies[i] = 0
                else:
                    used += cost
