"""Step 7: the "textbook-likeness" classifier: hashed word 1-2-grams, sublinear TF-IDF and a
logistic regression, all scikit-learn.

Why scikit-learn rather than fastText: fastText's `fasttext` module clashes with the one
datatrove installs (DESIGN.md), its training is not deterministic across threads, and its model
is an opaque binary. A logistic regression gives a probability in [0, 1], trains in seconds on
thousands of documents, and is saved here as plain arrays (JSON + .npz, no pickle, so loading a
model cannot run code). The hashing vectorizer has no vocabulary to store.

A model directory holds `quality_model.json` (parameters, training counts, held-out accuracy and
AUC) and `weights.npz` (idf, coefficients, intercept).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pintsize.artifacts import atomic_write_bytes, atomic_write_json
from pintsize.jsonl import read_json_objects
from pintsize.errors import DataError

MODEL_FILE = "quality_model.json"
WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 1


def hashed_counts(texts: Sequence[str], n_features: int, max_chars: int):
    """Counts of word unigrams and bigrams (sklearn's default word pattern, lowercased), hashed
    into n_features columns; rows are documents."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(ngram_range=(1, 2), n_features=n_features, alternate_sign=False, norm=None)
    return vectorizer.transform([t[:max_chars] for t in texts])


@dataclass
class QualityModel:
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    n_features: int = 2**18
    max_chars: int = 100_000
    metadata: dict | None = None
    # Scores and labels of the held-out split (by the model fit without it): what a threshold means.
    heldout_scores: np.ndarray | None = None
    heldout_labels: np.ndarray | None = None

    @classmethod
    def train(
        cls, positives: Sequence[str | Path] = (), negatives: Sequence[str | Path] = (), labeled_records=(), **options
    ) -> "QualityModel":
        """Train a model in memory (see `train_quality_model` for the inputs and options)."""
        return train_quality_model(positives, negatives, labeled_records, **options)

    def _counts(self, texts: Sequence[str]):
        return hashed_counts(texts, self.n_features, self.max_chars)

    def _probability(self, counts) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfTransformer

        tfidf = TfidfTransformer(sublinear_tf=True)
        tfidf.idf_ = self.idf
        return 1.0 / (1.0 + np.exp(-(tfidf.transform(counts) @ self.coef + self.intercept)))

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is textbook-like: float64 in [0, 1]; 0 for degenerate text
        (too short, or mostly words never seen in training: see quality_gate)."""
        from pintsize.curate.quality_gate import degenerate

        texts = list(texts)
        if not texts:
            return np.empty(0)
        p = self._probability(self._counts(texts))
        p[degenerate(texts, self.idf, self.n_features, self.max_chars)] = 0.0
        return p

    def operating_point(self, threshold: float) -> dict | None:
        """What `score >= threshold` means on the held-out labels: the share kept, precision and
        recall of the textbook-like class, and n. None for a model saved without them."""
        if self.heldout_scores is None or not len(self.heldout_scores):
            return None
        keep, y = self.heldout_scores >= threshold, self.heldout_labels.astype(bool)
        return {
            "threshold": round(float(threshold), 4),
            "heldout_n": int(len(y)),
            "heldout_positives": int(y.sum()),
            "keep_share": round(float(keep.mean()), 4),
            "precision": round(float((keep & y).sum() / keep.sum()), 4) if keep.any() else None,
            "recall": round(float((keep & y).sum() / y.sum()), 4) if y.any() else None,
        }

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        weights = {"idf": self.idf.astype(np.float32), "coef": self.coef.astype(np.float32)}
        if self.heldout_scores is not None:
            weights |= {"heldout_scores": self.heldout_scores.astype(np.float32), "heldout_labels": self.heldout_labels.astype(np.int8)}
        np.savez_compressed(buf, **weights, intercept=np.float64(self.intercept))
        atomic_write_bytes(directory / WEIGHTS_FILE, buf.getvalue())
        atomic_write_json(
            directory / MODEL_FILE,
            {
                "format": FORMAT_VERSION,
                "kind": "hashed word 1-2-grams, sublinear tf-idf, logistic regression (scikit-learn)",
                "n_features": self.n_features,
                "max_chars": self.max_chars,
                **(self.metadata or {}),
            },
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "QualityModel":
        directory = Path(directory)
        meta_path, weights_path = directory / MODEL_FILE, directory / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise DataError(f"{directory}: not a quality model (expected {MODEL_FILE} and {WEIGHTS_FILE}; see `pintsize quality train`)")
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(weights_path) as z:
                idf, coef, intercept = z["idf"].astype(np.float64), z["coef"].astype(np.float64), float(z["intercept"])
                held = (z["heldout_scores"].astype(np.float64), z["heldout_labels"]) if "heldout_scores" in z else (None, None)
        except (json.JSONDecodeError, KeyError, ValueError, OSError) as e:
            raise DataError(f"{directory}: broken quality model ({e})") from None
        if meta.get("format") != FORMAT_VERSION or len(idf) != meta.get("n_features") or len(coef) != len(idf):
            raise DataError(f"{meta_path}: unsupported or inconsistent model (format {meta.get('format')!r})")
        extra = {k: v for k, v in meta.items() if k not in ("format", "kind", "n_features", "max_chars")}
        return cls(idf, coef, intercept, meta["n_features"], meta["max_chars"], extra, *held)


def _fit(counts, labels: np.ndarray, n_features: int, max_chars: int, c: float) -> QualityModel:
    """Fit idf and the regression on hashed counts (rows = documents)."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    # liblinear: exact on sparse, high-dimensional data and ~8x faster than lbfgs here.
    clf = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", random_state=0)
    clf.fit(tfidf.transform(counts), labels)
    return QualityModel(tfidf.idf_, clf.coef_[0].copy(), float(clf.intercept_[0]), n_features, max_chars)


def read_label_file(path: str | Path) -> list[dict]:
    """Label records from a JSONL file, checked: {"text": str, "label": 1 | 0, ...}."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labels file not found")
    records = [check_label_record(rec, f"{path}:{lineno}") for lineno, rec in read_json_objects(path)]
    if not records:
        raise DataError(f"{path}: no label records (an empty file)")
    return records


def check_label_record(rec: object, where: str) -> dict:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: a label record must be a JSON object")
    if not isinstance(rec.get("text"), str) or not rec["text"].strip():
        raise DataError(f"{where}: field `text` must be a non-empty string")
    label = rec.get("label")
    if isinstance(label, bool) or label not in (0, 1):
        raise DataError(f"{where}: field `label` must be 1 or 0 (got {label!r})")
    return rec


def train_quality_model(
    positives: Sequence[str | Path] = (),
    negatives: Sequence[str | Path] = (),
    labeled_records: Iterable[Mapping] = (),
    out: str | Path | None = None,
    *,
    llm_records: Iterable[Mapping] = (),
    test_fraction: float = 0.2,
    seed: int = 0,
    c: float = 4.0,
    n_features: int = 2**18,
    max_chars: int = 100_000,
) -> QualityModel:
    """Train on positive and negative document files (JSONL/Parquet/text files or directories,
    corpus artifacts) plus labeled records ({"text", "label": 1|0}, e.g. the review app's
    export); a labeled record's label wins over a seed file's for the same text (counted as
    `seed_labels_overridden`). Accuracy and AUC are measured on a stratified held-out share; the
    saved model is then refit on all examples. With `out`, the model is written there as an
    artifact."""
    from pintsize.curate.training_texts import load_texts

    seeds: dict[str, int] = {}  # text -> label; an exact repeat would leak into the held-out set
    counts = {"positive_docs": 0, "negative_docs": 0, "labeled_records": 0, "llm_records": 0}
    for paths, label, key in ((positives, 1, "positive_docs"), (negatives, 0, "negative_docs")):
        for p in paths:
            for text in load_texts(p):
                seeds.setdefault(text, label)
                counts[key] += 1
    reviewed: dict[str, int] = {}
    for i, rec in enumerate(labeled_records):
        rec = check_label_record(rec, f"labeled record {i}")
        reviewed.setdefault(rec["text"], int(rec["label"]))
        counts["labeled_records"] += 1
    judged: dict[str, int] = {}
    for i, rec in enumerate(llm_records):
        rec = check_label_record(rec, f"LLM label record {i}")
        judged.setdefault(rec["text"], int(rec["label"]))
        counts["llm_records"] += 1
    # Precedence human > LLM > seed: a reviewer read the document, an LLM judge read it without
    # our guidance, the seed files only say where it came from.
    counts["seed_labels_overridden"] = sum(t in seeds and seeds[t] != label for t, label in (judged | reviewed).items())
    counts["llm_labels_overridden"] = sum(t in judged and judged[t] != label for t, label in reviewed.items())
    examples = seeds | judged | reviewed
    texts = list(examples)
    labels = np.array([examples[t] for t in texts])
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    if min(n_pos, n_neg) < 5:
        raise DataError(f"quality model: need at least 5 distinct positive and 5 negative examples (got {n_pos} and {n_neg})")

    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    hashed = hashed_counts(texts, n_features, max_chars)
    tr, te = train_test_split(np.arange(len(texts)), test_size=test_fraction, stratify=labels, random_state=seed)
    held = _fit(hashed[tr], labels[tr], n_features, max_chars, c)
    p = held.score([texts[i] for i in te])  # gated like any scoring, so the operating points are honest
    heldout = {
        "n": int(len(te)),
        "accuracy": round(float(accuracy_score(labels[te], p >= 0.5)), 4),
        "auc": round(float(roc_auc_score(labels[te], p)), 4),
    }
    model = _fit(hashed, labels, n_features, max_chars, c)
    model.heldout_scores, model.heldout_labels = p, labels[te]
    model.metadata = {
        "examples": {"positive": n_pos, "negative": n_neg, **counts},
        "heldout": heldout,
        "test_fraction": test_fraction,
        "seed": seed,
        "C": c,
        "refit_on_all": True,
    }
    if out is not None:
        _write_artifact(model, Path(out), positives, negatives, texts, labels)
    return model


def _write_artifact(model, out: Path, positives, negatives, texts, labels) -> None:
    from pintsize.artifacts import ArtifactWriter, hash_bytes

    inputs = {f"positive:{i}": p for i, p in enumerate(positives)} | {f"negative:{i}": p for i, p in enumerate(negatives)}
    training_hash = hash_bytes(json.dumps([texts, labels.tolist()]).encode())
    config = {k: model.metadata[k] for k in ("test_fraction", "seed", "C")} | {
        "n_features": model.n_features, "max_chars": model.max_chars, "training_examples_sha256": training_hash,
    }
    with ArtifactWriter(out, "quality", config, inputs=inputs) as art:
        model.save(art.dir)
        art.stats.update(model.metadata)
