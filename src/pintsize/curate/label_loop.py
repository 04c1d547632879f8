"""`pintsize quality label`: labels from the corpus being curated, and a quality model retrained on
them, round after round.

    held-out sample ─▶ labels ─┐                       (a stratified random sample of the corpus:
                               │                        never trained on; what the figures are on)
    round r: the current model scores the corpus; per source, the documents nearest its
             threshold ─▶ labels ─▶ retrain ─▶ AUC, operating point, precision and recall on
             the held-out labels ─▶ round r + 1

The documents are those that reached the quality step of a curation (curate/label_corpus.py);
the labels come from an LLM judge, the review app or files (curate/label_sources.py). The
artifact is a quality model directory (`[data.quality] model = OUT`) whose stored held-out labels
are the corpus's own, so `pintsize curate` reports precision and recall on text like the corpus,
never on the seeds; plus `labels.jsonl`, `rounds.json` and the judge's `cache.jsonl`.

The operating point is the threshold that maximizes recall minus the share of non-expository
documents kept (Youden's J) on the held-out labels; it is chosen on the labels it is reported on,
so its precision and recall are a little optimistic (the AUC is not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pintsize.artifacts import ArtifactWriter, atomic_write_json, atomic_write_text, read_manifest
from pintsize.curate.label_corpus import Doc, pool_ids, proportional, quality_step_index, read_docs, uncertain
from pintsize.curate.quality import QualityModel
from pintsize.errors import DataError

LABELS, ROUNDS = "labels.jsonl", "rounds.json"
MIN_PER_CLASS = 5  # what train_quality_model needs of each class


@dataclass
class LoopConfig:
    rounds: int = 3
    per_round: int = 40
    heldout: int = 100
    seed: int = 0
    pool: int = 20_000
    start_threshold: float = 0.5  # the threshold the first round's uncertainty is measured against
    # Retrain on the start model's seed files too. Off by default: with 100 and 250 correct labels of a
    # 35-source corpus, the labels alone ranked unseen documents better (AUC 0.946 vs 0.899, 0.975 vs
    # 0.952; benchmarks/label_loop_simulated.py, RESULTS.md): the seeds pull back toward their topics.
    keep_seeds: bool = False


@dataclass
class Seeds:
    """The seed files of the start model (from its manifest): with keep_seeds, retraining keeps them and
    the corpus's labels win over them."""

    positives: list[Path]
    negatives: list[Path]


def seeds_of(model_dir: str | Path | None) -> Seeds | None:
    """The positive and negative seed files a quality model was trained on, when its manifest lists
    them and they are still there."""
    if model_dir is None or not (Path(model_dir) / "manifest.json").is_file():
        return None
    inputs = read_manifest(model_dir).get("inputs", {})
    pos = [Path(v["path"]) for k, v in sorted(inputs.items()) if k.startswith("positive:") and Path(v["path"]).exists()]
    neg = [Path(v["path"]) for k, v in sorted(inputs.items()) if k.startswith("negative:") and Path(v["path"]).exists()]
    return Seeds(pos, neg) if pos or neg else None


def retrain(labels: list[tuple[str, dict]], seeds: Seeds | None, start_model: str | Path | None, seed: int) -> QualityModel:
    """The model for this round: the start model (e.g. `builtin:expository`) adapted to the corpus's
    training labels (human labels first, then the judge's) by the prior-centred fit of
    `train_quality_model(base=...)`, with the start model's seed files too when they are kept.
    Without a start model, a model trained on the labels alone. With 100 correct labels of the
    target the adapted model (prior_c 10) kept 95.1% / 4.7% and the labels alone 95.2% / 6.6%
    (benchmarks/RESULTS.md, issue 26); the prior is kept because the first rounds have few labels,
    sometimes of one class, where a model of the labels alone cannot be fitted or swings."""
    from pintsize.curate.quality import train_quality_model

    human = [{"text": t, "label": r["label"]} for t, r in labels if r["human"]]
    judged = [{"text": t, "label": r["label"]} for t, r in labels if not r["human"]]
    pos, neg = (seeds.positives, seeds.negatives) if seeds else ([], [])
    return train_quality_model(pos, neg, human, llm_records=judged, seed=seed, base=start_model)


def youden_threshold(scores: np.ndarray, y: np.ndarray) -> float:
    """The cut between two adjacent held-out scores that maximizes recall - false-positive rate."""
    cuts = np.unique(scores)
    candidates = np.concatenate([[cuts[0] - 1e-6], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1e-6]]) if len(cuts) else np.array([0.5])
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    j = [((scores >= c) & (y == 1)).sum() / pos - ((scores >= c) & (y == 0)).sum() / neg for c in candidates]
    return float(np.clip(candidates[int(np.argmax(j))], 0.0, 1.0))


def evaluate(model: QualityModel | None, texts: list[str], y: np.ndarray, threshold: float | None) -> dict:
    """AUC, and keep share, precision, recall and the non-expository share kept at the threshold
    (Youden's when None), on held-out labels."""
    from sklearn.metrics import roc_auc_score

    if model is None:
        return {"auc": None, "threshold": None}
    scores = model.score(texts)
    threshold = youden_threshold(scores, y) if threshold is None else threshold
    keep = scores >= threshold
    return {
        "auc": round(float(roc_auc_score(y, scores)), 4),
        "threshold": round(threshold, 4),
        "keep_share": round(float(keep.mean()), 4),
        "precision": round(float((keep & (y == 1)).sum() / keep.sum()), 4) if keep.any() else None,
        "recall": round(float((keep & (y == 1)).sum() / (y == 1).sum()), 4),
        "other_kept": round(float((keep & (y == 0)).sum() / (y == 0).sum()), 4),
        "_scores": scores,
    }


def _both_classes(records: list[dict], what: str) -> None:
    labels = {r["label"] for r in records}
    if len(labels) < 2:
        only = "expository (1)" if labels == {1} else "not expository (0)"
        raise DataError(
            f"{what}: all {len(records)} labels say {only}; precision, recall and a model need both classes "
            "(label more documents: a larger --heldout or --per-round, or more rounds)"
        )


@dataclass
class JudgeOptions:
    concurrency: int = 4
    max_chars: int = 3000
    min_labelled: float = 0.5  # of each batch of documents asked
    progress: bool = True


def run_label_loop(corpus: Path, out: Path, config: LoopConfig, *, judge=None, judge_options: JudgeOptions | None = None,
                   review_db: Path | None = None, label_files: list[Path] = (), start_model: str | Path | None = None,
                   source=None, report=print) -> dict:
    """Run the rounds and write the artifact. Labels come from `judge` (a curate.judge.Judge), or the
    review database `review_db`, or `source` (any object with `label(docs, what) -> {id: {"label", "human", ...}}`),
    and from `label_files`. `report(row)` is told each round's figures.
    A failure (a judge that labels too little, reviewers not done yet) leaves no finished artifact;
    the judge's answers stay cached in the partial directory and a rerun asks only for the rest."""
    from contextlib import nullcontext

    from pintsize.curate.judge import JUDGE_SHA256
    from pintsize.curate.judging import CACHE_FILE, JudgeCache, read_cache
    from pintsize.curate.label_sources import JudgeLabels, ReviewLabels

    corpus, out = Path(corpus), Path(out)
    options = judge_options or JudgeOptions()
    described = {"judge": judge.url, "judge_model": judge.model, "judge_sha256": JUDGE_SHA256, "scoring": judge.scoring,
                 "max_chars": options.max_chars} if judge is not None else {"review_db": str(review_db)} if review_db else {}
    if source is not None:
        described = {"source": type(source).__name__}
    config_dump = {"rounds": config.rounds, "per_round": config.per_round, "heldout": config.heldout, "seed": config.seed,
                   "pool": config.pool, "start_threshold": config.start_threshold, "keep_seeds": config.keep_seeds, **described}
    inputs = {"corpus": corpus} | ({"start_model": Path(start_model)} if start_model and Path(start_model).exists() else {})
    inputs |= {f"labels:{i}": Path(p) for i, p in enumerate(label_files)}
    writer = ArtifactWriter(out, "quality_label", config_dump, inputs=inputs)
    # Read before entering: a partial directory of other settings is wiped, and its answers were paid for.
    earlier = read_cache(out / CACHE_FILE) | read_cache(writer.dir / CACHE_FILE) if judge is not None else {}
    with writer as art, (JudgeCache(art.dir / CACHE_FILE, earlier) if judge is not None else nullcontext()) as cache:
        if source is None and judge is not None:
            source = JudgeLabels(judge, cache, max_chars=options.max_chars, concurrency=options.concurrency,
                                 min_labelled=options.min_labelled, progress=options.progress)
        elif source is None and review_db is not None:
            source = ReviewLabels(review_db)
        model, final, h_y, rows, docs, labels, seeds = _rounds(corpus, config, source, label_files, start_model, report)
        summary = _write(art, model, final, h_y, rows, docs, labels, corpus, seeds)
    return summary


def _rounds(corpus, config: LoopConfig, source, label_files, start_model, report):
    from pintsize.curate.label_sources import file_labels

    all_ids, all_sources = quality_step_index(corpus)
    if not all_ids:
        raise DataError(f"{corpus}: no document reached the quality step; nothing to label")
    pool = pool_ids(all_ids, all_sources, config.pool, config.seed)
    docs_by_id = dict(zip(all_ids, all_sources))
    texts = {d.id: d.text for d in read_docs(corpus, {all_ids[i] for i in pool}).values()}
    given = file_labels(list(label_files), docs_by_id, texts) if label_files else {}
    if given.keys() - texts.keys():  # labelled documents outside the pool join it
        texts |= {d.id: d.text for d in read_docs(corpus, set(given) - set(texts)).values()}
    order = {i: n for n, i in enumerate(all_ids)}
    docs = [Doc(i, docs_by_id[i], texts[i]) for i in sorted(texts, key=order.__getitem__)]
    if source is None and given:
        _both_classes(list(given.values()), "--labels")

    model = QualityModel.load(start_model) if start_model is not None else None
    seeds = seeds_of(start_model) if config.keep_seeds else None
    keys, sources = [d.id for d in docs], [d.source for d in docs]
    # Without a label source the labels are the files' alone: the held-out sample is drawn among them.
    universe = list(range(len(docs))) if source is not None else [i for i in range(len(docs)) if docs[i].id in given]
    heldout = set(proportional(universe, [sources[i] for i in universe], [keys[i] for i in universe],
                               min(config.heldout, len(universe) // 2), config.seed))
    labels: dict[str, dict] = {}
    asked: set[str] = set()  # documents a source was asked about (an unscored one is not asked again)

    def gather(chosen: list[int], split: str, round_no: int, what: str) -> None:
        for i in chosen:
            if docs[i].id in given:
                labels.setdefault(docs[i].id, given[docs[i].id] | {"split": split, "round": round_no})
        need = [docs[i] for i in chosen if docs[i].id not in labels]
        if need and source is not None:
            asked.update(d.id for d in need)
            for doc_id, rec in source.label(need, what).items():
                labels[doc_id] = rec | {"split": split, "round": round_no}

    gather(sorted(heldout), "heldout", 0, "held-out sample")
    held = [(docs[i].text, labels[docs[i].id]) for i in sorted(heldout) if docs[i].id in labels]
    _both_classes([r for _, r in held], f"the {len(held)} held-out labels of {corpus}")
    h_texts, h_y = [t for t, _ in held], np.array([r["label"] for _, r in held])

    threshold = config.start_threshold
    rows = [{"round": 0, "train_labels": 0, "model": str(start_model) if start_model else None,
             **_public(evaluate(model, h_texts, h_y, threshold if model else None))}]
    report(rows[0])
    trained = False
    for r in range(1, (config.rounds if source is not None else 1) + 1):  # label files alone: one round
        candidates = [i for i in range(len(docs)) if i not in heldout and docs[i].id not in labels and docs[i].id not in asked]
        if source is None:  # the files' labels are all there is: every one of them trains
            chosen = [i for i in candidates if docs[i].id in given]
        else:
            scores = model.score([d.text for d in docs]) if model is not None else None
            chosen = uncertain(candidates, sources, keys, scores, threshold if model else None, config.per_round, config.seed)
        gather(chosen, "train", r, f"round {r}")
        train = [(d.text, labels[d.id]) for d in docs if d.id in labels and labels[d.id]["split"] == "train"]
        n_pos = sum(rec["label"] for _, rec in train)
        if seeds is not None or min(n_pos, len(train) - n_pos) >= MIN_PER_CLASS:
            model, trained = retrain(train, seeds, start_model, config.seed), True
            result = evaluate(model, h_texts, h_y, None)
            threshold = result["threshold"]
        else:  # not both classes yet: sample again with the model we have
            result = evaluate(model, h_texts, h_y, threshold if model else None)
        rows.append({"round": r, "train_labels": len(train), "train_positive": n_pos, **_public(result)})
        report(rows[-1])
    if not trained:
        train = [rec for rec in labels.values() if rec["split"] == "train"]
        if not train:
            raise DataError(f"quality label: no training label was gathered from {corpus} (--rounds {config.rounds}, --per-round {config.per_round})")
        _both_classes(train, f"the {len(train)} training labels (at least {MIN_PER_CLASS} of each class are needed)")
        n_pos = sum(r["label"] for r in train)
        raise DataError(f"quality label: the {len(train)} training labels hold {n_pos} expository and {len(train) - n_pos} not; "
                        f"a model needs at least {MIN_PER_CLASS} of each: label more (--per-round, --rounds)")
    return model, evaluate(model, h_texts, h_y, None), h_y, rows, docs, labels, seeds


def _public(result: dict) -> dict:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _write(art, model, final, h_y, rows, docs, labels, corpus, seeds) -> dict:
    model.heldout_scores, model.heldout_labels = final["_scores"], h_y  # what `curate` reports a threshold by
    op = _public(final)
    model.metadata = (model.metadata or {}) | {
        "training_heldout": (model.metadata or {}).get("heldout"),  # train_quality_model's own split (seeds included)
        "heldout": {"n": int(len(h_y)), "auc": op["auc"], "accuracy": round(float(((final["_scores"] >= op["threshold"]) == h_y).mean()), 4)},
        "heldout_source": f"labels of {corpus}, a stratified sample never trained on (`pintsize quality label`)",
        "operating_point": op,
        "label_rounds": rows,
    }
    records = [{"id": d.id, "source": d.source, "text": d.text, **labels[d.id]} for d in docs if d.id in labels]
    model.save(art.dir)
    atomic_write_text(art.dir / LABELS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    atomic_write_json(art.dir / ROUNDS, rows)
    summary = {"labels": len(records), "heldout_labels": int(len(h_y)), "train_labels": len(records) - int(len(h_y)),
               "operating_point": op, "rounds": rows, "seeds_kept": seeds is not None}
    art.stats.update(summary)
    return summary
