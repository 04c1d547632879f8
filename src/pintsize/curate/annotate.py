"""`pintsize quality annotate`: an LLM judge rates a sample of documents 0-5 for educational value
(the FineWeb-Edu recipe; how the score is read: curate/judge.py).

- Answers are cached as they arrive (curate/judging.py): a killed run, or one whose judge failed,
  reruns asking only for what it has not got; a finished artifact's cache seeds the next run.
- A run that labels fewer than `min_labelled` of its documents stops with an error that says why
  (failures by kind, the judge's last error body, a reply without a score) and writes no finished
  artifact; its answers stay in the partial directory's cache.
- `labels.jsonl` holds {"text", "label", "score", ...}: `pintsize quality train --llm-labels`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pintsize.artifacts import ArtifactWriter, atomic_write_text
from pintsize.curate.judge import (  # noqa: F401  (KEEP_SCORE, parse_score: part of this module's interface)
    JUDGE_SHA256,
    KEEP_SCORE,
    Judge,
    JudgeUnreachable,
    check_reachable,
    parse_score,
)
from pintsize.curate.judging import CACHE_FILE, JudgeCache, ask_all, cache_key, check_labelled, read_cache, text_sha256
from pintsize.errors import DataError

LABELS_FILE = "labels.jsonl"
MIN_LABELLED = 0.5  # the default share of the sample that must get a score
UNSCORED_SHOWN = 3  # replies without a score shown in the summary


def sample_documents(corpus: Path, n: int, max_chars: int) -> list[str]:
    """n distinct documents (their first max_chars characters), chosen by hash order: the same
    sample on every rerun, and a larger n extends a smaller one."""
    from pintsize.curate.training_texts import load_texts

    texts = {text_sha256(t[:max_chars]): t[:max_chars] for t in load_texts(corpus) if t.strip()}
    if not texts:
        raise DataError(f"{corpus}: no documents to rate")
    return [texts[k] for k in sorted(texts)[:n]]


def label_record(text: str, rec: dict) -> dict:
    """A labels.jsonl record of a scored answer (label = score >= 3, FineWeb-Edu's cut)."""
    out = {"text": text, "label": int(rec["score"] >= KEEP_SCORE), "score": rec["score"], "sha256": rec["sha256"],
           "judge": rec["judge"], "model": rec["model"], "prompt_sha256": rec.get("prompt_sha256"), "method": rec.get("method", "text"),
           "reply": rec["reply"]}
    for k in ("expected_score", "score_probs"):
        if k in rec:
            out[k] = rec[k]
    return out


def annotate_corpus(
    corpus: Path, out: Path, judge: Judge, *, sample: int = 500, concurrency: int = 4, max_chars: int = 3000,
    min_labelled: float = MIN_LABELLED, progress: bool = True,
) -> dict:
    corpus, out = Path(corpus), Path(out)
    check_reachable(judge.url, judge.api_key)
    judge.probe()
    docs = sample_documents(corpus, sample, max_chars)
    config = {"judge": judge.url, "model": judge.model, "judge_sha256": JUDGE_SHA256, "scoring": judge.scoring,
              "sample": sample, "max_chars": max_chars}
    writer = ArtifactWriter(out, "quality_annotate", config, inputs={"corpus": corpus})
    # Read before entering: a killed run with other settings (a different --sample) leaves a
    # partial directory the writer will wipe, and its answers were paid for.
    earlier = read_cache(out / CACHE_FILE) | read_cache(writer.dir / CACHE_FILE)
    with writer as art, JudgeCache(art.dir / CACHE_FILE, earlier) as cache:
        asked = ask_all(judge, docs, cache, concurrency=concurrency, progress=progress, label="annotating")
        answers = [(t, cache.cache[cache_key(t, judge)]) for t in docs if cache_key(t, judge) in cache.cache]
        labels = [label_record(t, a) for t, a in answers if a.get("score") is not None]
        unscored = [a for _, a in answers if a.get("score") is None]
        scores = [r["score"] for r in labels]
        summary = {
            "documents": len(docs),
            "labeled": len(labels),
            "unlabeled": len(docs) - len(labels),
            "no_score": len(unscored),
            "no_score_replies": [a.get("reply", "")[:300] for a in unscored[:UNSCORED_SHOWN]],
            **asked,
            "failures": dict(judge.failures),
            "judge_errors": dict(judge.last_error),
            "scoring": judge.method,
            "fallback_reason": judge.fallback_reason,
            "score_counts": {str(s): scores.count(s) for s in range(6)},
            "keep_share_at_3": round(sum(s >= KEEP_SCORE for s in scores) / len(scores), 4) if scores else None,
            "judge": judge.url, "model": judge.model, "judge_sha256": JUDGE_SHA256,
        }
        # Too few labels: stop before the artifact is finished (its cache stays in the partial directory).
        check_labelled(judge, len(labels), len(docs), min_labelled, unscored, f"quality annotate {out}", art.dir / CACHE_FILE)
        atomic_write_text(art.dir / LABELS_FILE, "".join(json.dumps(r) + "\n" for r in labels))
        art.stats.update(summary)
    return summary
