"""The held-out split of an ablation, made once, before any variant is built.

How held-out text is kept out of every variant's training data (the choice, and why):

1. A deterministic share of the raw documents of the expository sources is held out, chosen by
   a hash of the document id (`is_heldout`): stable across runs and machines and independent of
   reading order, so adding a source does not reshuffle the others' split. Optionally a separate
   held-out text (`[ablate].heldout_path`) is added to it.
2. Held-out documents have copies elsewhere in real data: the Python docs' reST sources are
   also in the same package as HTML pages, pydoc renders the same docstrings, a changelog quotes
   a paragraph. Splitting by document alone would let those copies leak into the uncurated
   variant (and into any variant whose dedup misses them). So every remaining raw document of
   *every* source is checked with the curation step's decontamination index (word 13-grams,
   `pintsize.curate.decontam.DecontamIndex`) against the held-out text, and a document that
   shares a held-out n-gram is dropped from the raw input of all variants alike. Matching runs
   on a markup-free view of the text (tags removed, entities decoded), because HTML tags
   between words would otherwise hide a copy inside a raw HTML page. An n-gram found in more
   than `decontam_common_docs` training documents is boilerplate (a licence paragraph, a
   navigation bar) rather than evidence of a copy, and does not count.

   This is done here, once, on the raw documents rather than inside each variant's curation:
   the variants must read the same raw input, and the uncurated variant must not depend on
   whether HTML extraction or dedup happened to run. Holding out whole packages was the
   alternative; it would leave the held-out set with a single package's style and still needs
   this check for the HTML copies of the same text.

The artifact: `sources/<name>.jsonl` (each source's raw training documents, read with the
curation readers), `heldout/docs.jsonl` (every held-out document, as the model is scored on
it: the source's HTML extraction applied), `heldout/eval.jsonl` (the part scored for bits per
byte), `heldout/cloze.jsonl` (the cloze task), `stats.json`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np

from pintsize.artifacts import ArtifactWriter, atomic_write_json
from pintsize.curate.config import DataConfig, SourceConfig
from pintsize.errors import RecipeError
from pintsize.pipeline.ablate.config import AblateConfig

STAGE = "ablate-split"
SOURCES, HELDOUT = "sources", "heldout"
DOCS, EVAL, CLOZE, VIEW = "docs.jsonl", "eval.jsonl", "cloze.jsonl", "decontam-view.jsonl"
_TAG = re.compile(r"<[^<>]{0,2000}>")
_WORD = re.compile(r"\w+")


def heldout_source_names(data: DataConfig, cfg: AblateConfig) -> list[str]:
    names = [s.name for s in data.sources]
    if cfg.heldout_sources:
        unknown = sorted(set(cfg.heldout_sources) - set(names))
        if unknown:
            raise RecipeError(f"[ablate].heldout_sources: no [data] source named {', '.join(unknown)} (sources: {', '.join(names)})")
        return list(cfg.heldout_sources)
    chosen = [s.name for s in data.sources if s.rules_profile in ("docs", "prose")]
    if not chosen and not cfg.heldout_path:
        raise RecipeError("[ablate]: no held-out text: set heldout_sources (expository sources) or heldout_path")
    return chosen


def is_heldout(doc_id: str, fraction: float) -> bool:
    """Whether the raw document `doc_id` (the curation readers' id) is held out."""
    h = int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big")
    return h < fraction * 2.0**64


def text_view(text: str) -> str:
    """What decontamination matches on: the text without markup tags, with entities decoded."""
    return html.unescape(_TAG.sub(" ", text)) if "<" in text or "&" in text else text


def _words(text: str) -> list[str]:
    return _WORD.findall(text_view(text).lower())


def split_config(data: DataConfig, cfg: AblateConfig) -> dict:
    """Everything that decides the split artifact."""
    keep = (
        "heldout_sources", "heldout_fraction", "heldout_path", "decontam_ngram", "decontam_common_docs",
        "eval_bytes", "eval_doc_chars", "cloze_items", "cloze_context_chars", "cloze_seed",
    )
    return {
        "sources": [s.model_dump(mode="json") for s in data.sources],
        "max_doc_bytes": data.max_doc_bytes,
        "shard_mb": data.shard_mb,
        **cfg.model_dump(mode="json", include=set(keep)),
    }


def source_inputs(data: DataConfig, cfg: AblateConfig) -> dict[str, Path]:
    """The raw inputs (hashed into the split's fingerprint)."""
    from pintsize.curate.pipeline import source_inputs as raw_sources

    inputs = raw_sources(data)
    if cfg.heldout_path:
        inputs["heldout_path"] = Path(cfg.heldout_path)
    return inputs


def _read_source(data: DataConfig, index: int, counts: Counter) -> Iterator[tuple[str, str, dict]]:
    """(id, text, meta) of every readable document of source `index`; quarantined records are counted."""
    from pintsize.curate.readers import read_shard
    from pintsize.curate.records import Removed
    from pintsize.curate.shards import plan_shards

    source = data.sources[index]
    one = data.model_copy(update={"sources": [source]})
    for spec in plan_shards(one):
        for item in read_shard(spec, source, data.max_doc_bytes):
            if isinstance(item, Removed):
                counts["quarantined"] += 1
                continue
            yield item.id, item.text, dict(item.metadata.get("meta") or {})


def _eval_view(text: str, source: SourceConfig) -> str:
    if source.html == "none":
        return text
    from pintsize.curate.normalize import html_to_text

    return html_to_text(text, source.html)


class _JsonlWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "w", encoding="utf-8")

    def write(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.f.close()


def build_split(data: DataConfig, cfg: AblateConfig, out: Path) -> Path:
    from pintsize.curate.decontam import DecontamIndex, ngram_hashes

    names = heldout_source_names(data, cfg)
    stats: dict[str, dict] = {s.name: Counter() for s in data.sources}
    with ArtifactWriter(out, STAGE, split_config(data, cfg), inputs=source_inputs(data, cfg)) as art:
        held, view = _JsonlWriter(art.dir / HELDOUT / DOCS), _JsonlWriter(art.dir / HELDOUT / VIEW)
        heldout_docs: list[dict] = []
        # 1. the held-out documents
        for i, s in enumerate(data.sources):
            if s.name not in names:
                continue
            for doc_id, text, _ in _read_source(data, i, Counter()):
                if is_heldout(doc_id, cfg.heldout_fraction):
                    rec = {"id": doc_id, "source": s.name, "text": _eval_view(text, s)}
                    held.write(rec)
                    heldout_docs.append(rec)
                    view.write({"text": text_view(text)})
                    if rec["text"] != text:
                        view.write({"text": text_view(rec["text"])})
                    stats[s.name]["heldout_docs"] += 1
        if cfg.heldout_path:
            from pintsize.eval.texts import read_texts

            texts, _ = read_texts(cfg.heldout_path)
            for j, text in enumerate(texts):
                rec = {"id": f"heldout_path/{j}", "source": "heldout_path", "text": text}
                held.write(rec)
                heldout_docs.append(rec)
                view.write({"text": text_view(text)})
        held.close()
        view.close()
        if not heldout_docs:
            raise RecipeError(f"[ablate]: no document was held out of {', '.join(names)}; raise heldout_fraction")
        index = DecontamIndex.build([str(art.dir / HELDOUT / VIEW)], cfg.decontam_ngram)

        # 2. which held-out n-grams each other document shares, and in how many documents each occurs
        matched: dict[str, np.ndarray] = {}
        df: Counter = Counter()
        for i, s in enumerate(data.sources):
            for doc_id, text, _ in _read_source(data, i, stats[s.name]):
                stats[s.name]["read_docs"] += 1
                if s.name in names and is_heldout(doc_id, cfg.heldout_fraction):
                    continue
                words = _words(text)
                starts, _ = index.matches(words)
                if len(starts):
                    hashes = np.unique(ngram_hashes(words, cfg.decontam_ngram)[starts])
                    matched[doc_id] = hashes
                    df.update(hashes.tolist())
        common = {h for h, n in df.items() if n > cfg.decontam_common_docs}

        # 3. each source's training documents, without copies of held-out text
        for i, s in enumerate(data.sources):
            w = _JsonlWriter(art.dir / SOURCES / f"{s.name}.jsonl")
            st = stats[s.name]
            for doc_id, text, meta in _read_source(data, i, Counter()):
                if s.name in names and is_heldout(doc_id, cfg.heldout_fraction):
                    continue
                hits = matched.get(doc_id)
                if hits is not None and any(int(h) not in common for h in hits):
                    st["contaminated_docs"] += 1
                    st["contaminated_bytes"] += len(text.encode("utf-8"))
                    continue
                w.write({**{k: v for k, v in meta.items() if k not in ("text", "id")}, "id": doc_id, "text": text})
                st["train_docs"] += 1
                st["train_bytes"] += len(text.encode("utf-8"))
            w.close()

        from pintsize.pipeline.ablate.cloze import build_cloze

        eval_docs = _eval_subset(heldout_docs, cfg)
        with open(art.dir / HELDOUT / EVAL, "w", encoding="utf-8") as f:
            for rec in eval_docs:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        items = build_cloze([d["text"] for d in heldout_docs], cfg.cloze_items, cfg.cloze_context_chars, cfg.cloze_seed)
        with open(art.dir / HELDOUT / CLOZE, "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        summary = {
            "sources": {k: dict(v) for k, v in stats.items()},
            "heldout": {
                "sources": names + (["heldout_path"] if cfg.heldout_path else []),
                "docs": len(heldout_docs),
                "bytes": sum(len(d["text"].encode("utf-8")) for d in heldout_docs),
                "eval_docs": len(eval_docs),
                "eval_bytes": sum(len(d["text"].encode("utf-8")) for d in eval_docs),
                "cloze_items": len(items),
            },
            "decontamination": {
                "ngram": cfg.decontam_ngram,
                "heldout_ngrams": int(len(index.hashes)),
                "docs_sharing_an_ngram": len(matched),
                "common_ngrams_ignored": len(common),
                "docs_dropped": sum(v["contaminated_docs"] for v in stats.values()),
            },
        }
        atomic_write_json(art.dir / "stats.json", summary)
        art.stats.update(summary)
    return out


def _eval_subset(docs: list[dict], cfg: AblateConfig) -> list[dict]:
    """Held-out documents in hashed order, each cut at a line end to eval_doc_chars, up to eval_bytes."""
    order = sorted(docs, key=lambda d: hashlib.sha256(d["id"].encode()).hexdigest())
    out, total = [], 0
    for d in order:
        text = d["text"]
        if len(text) > cfg.eval_doc_chars:
            cut = text.rfind("\n", 0, cfg.eval_doc_chars)
            text = text[: cut if cut > 0 else cfg.eval_doc_chars]
        if not text.strip():
            continue
        out.append({"id": d["id"], "source": d["source"], "text": text})
        total += len(text.encode("utf-8"))
        if total >= cfg.eval_bytes:
            break
    return out


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
