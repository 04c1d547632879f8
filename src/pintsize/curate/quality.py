"""Step 7: the "textbook-likeness" classifier: hashed n-grams, sublinear TF-IDF and a logistic
regression, all scikit-learn. Two feature kinds: `style` (the delexicalised token stream and
layout statistics of quality_features: how a text is written, not what about; the built-in
model's) and `words` (word 1-2-grams: learns the seeds' topic too; the kind of models trained
before issue 26).

Why scikit-learn rather than fastText: fastText's `fasttext` module clashes with the one
datatrove installs (DESIGN.md), its training is not deterministic across threads, and its model
is an opaque binary. A logistic regression gives a probability in [0, 1], trains in seconds on
thousands of documents, and is saved here as plain arrays (JSON + .npz, no pickle, so loading a
model cannot run code). The hashing vectorizer has no vocabulary to store.

A model directory holds `quality_model.json` (parameters, training counts, held-out accuracy and
AUC) and `weights.npz` (idf, coefficients, intercept; for style models also the layout scaling
and a bitmap of the word buckets seen in training, for the degenerate-text gate).

`builtin:expository` names the general model shipped in the package (trained on the quality
library by scripts/train_builtin_quality.py); `base=` adapts it (or any model) to labels from the
user's own corpus with a fit centred on its weights (`train_quality_model`).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pintsize.artifacts import atomic_write_bytes, atomic_write_json
from pintsize.jsonl import read_json_objects
from pintsize.curate.quality_features import LAYOUT_NAMES, SEEN_BUCKETS, feature_fingerprint
from pintsize.errors import DataError

MODEL_FILE = "quality_model.json"
WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 2  # 2 added `features` (style); format 1 files load as word models
FEATURE_KINDS = ("style", "words")
KIND_TEXT = {
    "words": "hashed word 1-2-grams, sublinear tf-idf, logistic regression (scikit-learn)",
    "style": "hashed 1-3-grams of delexicalised tokens + layout statistics, sublinear tf-idf, logistic regression (scikit-learn)",
}
BUILTIN = "builtin:"
BUILTIN_MODELS = ("expository",)
LAYOUT_WEIGHT = 0.3  # layout columns (z-scores) next to l2-normalised n-gram rows: comparable scale


def builtin_dir(name: str) -> Path:
    return Path(__file__).parent / "builtin_models" / name


def resolve_model_path(spec: str | Path) -> Path:
    """A model directory, or `builtin:NAME` -> the package's copy of that built-in model."""
    text = str(spec)
    if text.startswith(BUILTIN):
        name = text[len(BUILTIN):]
        if name not in BUILTIN_MODELS:
            known = ", ".join(BUILTIN + n for n in BUILTIN_MODELS)
            raise DataError(f"{text}: no such built-in quality model (known: {known})")
        return builtin_dir(name)
    return Path(spec)


def hashed_counts(texts: Sequence[str], n_features: int, max_chars: int):
    """Counts of word unigrams and bigrams (sklearn's default word pattern, lowercased), hashed
    into n_features columns; rows are documents."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(ngram_range=(1, 2), n_features=n_features, alternate_sign=False, norm=None)
    return vectorizer.transform([t[:max_chars] for t in texts])


def recommended_threshold(spec: str | Path) -> float:
    """The threshold a model recommends (`builtin:expository` stores one, chosen leaving each
    source out), else 0.5."""
    try:
        meta = json.loads((resolve_model_path(spec) / MODEL_FILE).read_text())
        return float(meta.get("recommended_threshold", 0.5))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.5


@dataclass
class Raw:
    """Features before fitting: hashed n-gram counts (rows = documents) and, for style, the layout
    statistics and each document's word buckets (for the degenerate-text gate)."""

    counts: object
    layout: np.ndarray | None = None
    buckets: list | None = None

    def rows(self, index) -> "Raw":
        index = np.asarray(index)
        return Raw(
            self.counts[index],
            None if self.layout is None else self.layout[index],
            None if self.buckets is None else [self.buckets[i] for i in index],
        )

    def seen(self) -> np.ndarray:
        """bool[SEEN_BUCKETS]: the word buckets that occur in these documents."""
        seen = np.zeros(SEEN_BUCKETS, dtype=bool)
        if self.buckets:
            seen[np.concatenate(self.buckets)] = True
        return seen


def raw_features(kind: str, texts: Sequence[str], n_features: int, max_chars: int) -> Raw:
    if kind == "words":
        return Raw(hashed_counts(texts, n_features, max_chars))
    if kind == "style":
        from pintsize.curate.quality_features import style_features

        f = style_features(texts, n_features, max_chars)
        return Raw(f.counts, f.layout, f.word_buckets)
    raise DataError(f"quality model: features must be one of {', '.join(FEATURE_KINDS)} (got {kind!r})")


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
    features: str = "words"
    layout_mean: np.ndarray | None = None
    layout_scale: np.ndarray | None = None
    seen_words: np.ndarray | None = None  # style models: bool[SEEN_BUCKETS], for the gate

    @classmethod
    def train(
        cls, positives: Sequence[str | Path] = (), negatives: Sequence[str | Path] = (), labeled_records=(), **options
    ) -> "QualityModel":
        """Train a model in memory (see `train_quality_model` for the inputs and options)."""
        return train_quality_model(positives, negatives, labeled_records, **options)

    def raw(self, texts: Sequence[str]) -> Raw:
        return raw_features(self.features, texts, self.n_features, self.max_chars)

    def design(self, raw: Raw):
        """The regression's input: tf-idf rows (l2), plus the scaled layout columns for style."""
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfTransformer

        tfidf = TfidfTransformer(sublinear_tf=True)
        tfidf.idf_ = self.idf
        x = tfidf.transform(raw.counts)
        if self.features == "style":
            z = (raw.layout - self.layout_mean) / self.layout_scale * LAYOUT_WEIGHT
            x = sparse.hstack([x, sparse.csr_matrix(z)], format="csr")
        return x

    def score_raw(self, raw: Raw) -> np.ndarray:
        """Probabilities from precomputed features (no degenerate-text gate)."""
        return 1.0 / (1.0 + np.exp(-(self.design(raw) @ self.coef + self.intercept)))

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is textbook-like: float64 in [0, 1]; 0 for degenerate text
        (too short, or mostly words never seen in training: see quality_gate)."""
        from pintsize.curate.quality_gate import MIN_KNOWN_SHARE, MIN_WORDS, degenerate, seen_buckets

        texts = list(texts)
        if not texts:
            return np.empty(0)
        raw = self.raw(texts)
        p = self.score_raw(raw)
        if self.seen_words is not None:  # style: the word buckets came with the features
            words = np.array([len(b) for b in raw.buckets])
            known = np.array([int(self.seen_words[b].sum()) for b in raw.buckets])
            share = np.divide(known, words, out=np.zeros(len(words)), where=words > 0)
            gate = (words < MIN_WORDS) | (share < MIN_KNOWN_SHARE)
        else:
            gate = degenerate(texts, seen_buckets(self.idf), self.n_features, self.max_chars)
        p[gate] = 0.0
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
        if self.features == "style":
            weights |= {
                "layout_mean": self.layout_mean.astype(np.float32),
                "layout_scale": self.layout_scale.astype(np.float32),
                "seen_words": np.packbits(self.seen_words),
            }
        if self.heldout_scores is not None:
            weights |= {"heldout_scores": self.heldout_scores.astype(np.float32), "heldout_labels": self.heldout_labels.astype(np.int8)}
        np.savez_compressed(buf, **weights, intercept=np.float64(self.intercept))
        atomic_write_bytes(directory / WEIGHTS_FILE, buf.getvalue())
        atomic_write_json(
            directory / MODEL_FILE,
            {
                "format": FORMAT_VERSION,
                "kind": KIND_TEXT[self.features],
                "features": self.features,
                "n_features": self.n_features,
                "max_chars": self.max_chars,
                **(self.metadata or {}),
                # The features of the code that trained it: `load` refuses the model when they change.
                **({"feature_fingerprint": feature_fingerprint(self.n_features, self.max_chars)} if self.features == "style" else {}),
            },
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "QualityModel":
        """A model directory, or `builtin:expository`."""
        directory = resolve_model_path(directory)
        meta_path, weights_path = directory / MODEL_FILE, directory / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise DataError(f"{directory}: not a quality model (expected {MODEL_FILE} and {WEIGHTS_FILE}; see `pintsize quality train`)")
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(weights_path) as z:
                idf, coef, intercept = z["idf"].astype(np.float64), z["coef"].astype(np.float64), float(z["intercept"])
                held = (z["heldout_scores"].astype(np.float64), z["heldout_labels"]) if "heldout_scores" in z else (None, None)
                style = {}
                if meta.get("features") == "style":
                    style = {
                        "layout_mean": z["layout_mean"].astype(np.float64),
                        "layout_scale": z["layout_scale"].astype(np.float64),
                        "seen_words": np.unpackbits(z["seen_words"])[:SEEN_BUCKETS].astype(bool),
                    }
        except (json.JSONDecodeError, KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"{directory}: broken quality model ({type(e).__name__}: {e})") from None
        if not isinstance(meta, dict):
            raise DataError(f"{meta_path}: broken quality model (not a JSON object)")
        features = meta.get("features", "words")
        n_extra = len(style.get("layout_mean", ()))
        if (
            meta.get("format") not in (1, FORMAT_VERSION) or features not in FEATURE_KINDS or len(idf) != meta.get("n_features")
            or not isinstance(meta.get("max_chars"), int) or meta["max_chars"] < 1
            or len(coef) != len(idf) + n_extra or (features == "style") != bool(style)
        ):
            raise DataError(f"{meta_path}: unsupported or inconsistent model (format {meta.get('format')!r}, features {features!r})")
        if features == "style" and n_extra != len(LAYOUT_NAMES):
            raise DataError(f"{directory}: trained on {n_extra} layout statistics of another pintsize version; this one computes "
                            f"{len(LAYOUT_NAMES)}: train it again (`pintsize quality train` or `pintsize quality label`)")
        if features == "style" and meta.get("feature_fingerprint", "") not in ("", feature_fingerprint(meta["n_features"], meta["max_chars"])):
            raise DataError(f"{directory}: trained on the style features of another pintsize version (feature_fingerprint "
                            f"{meta['feature_fingerprint']}): its scores would mean nothing here; train it again "
                            "(`pintsize quality train` or `pintsize quality label`)")
        extra = {k: v for k, v in meta.items() if k not in ("format", "kind", "features", "n_features", "max_chars")}
        return cls(idf, coef, intercept, meta["n_features"], meta["max_chars"], extra, *held, features=features, **style)


def fit(raw: Raw, labels: np.ndarray, features: str, n_features: int, max_chars: int, c: float,
        base: "QualityModel | None" = None, prior_c: float = 10.0) -> QualityModel:
    """Fit the regression on precomputed features (rows = documents), classes weighted to balance.

    Without `base`: idf (and the layout scaling) from these rows, then scikit-learn's logistic
    regression. With `base`: its idf, scaling and weights stay the frame, and the weights move
    only as far as these labels pull them: the minimum of balanced log-loss x prior_c +
    1/2 |w - w_base|^2 (a Gaussian prior centred on the base model, the intercept free). A few
    hundred labels of the user's corpus adapt a general model without its training data."""
    from sklearn.feature_extraction.text import TfidfTransformer

    labels = np.asarray(labels)
    if base is not None:
        model = QualityModel(base.idf, base.coef, base.intercept, base.n_features, base.max_chars, features=base.features,
                             layout_mean=base.layout_mean, layout_scale=base.layout_scale, seen_words=base.seen_words)
        model.coef, model.intercept = _prior_fit(model.design(raw), labels, base.coef, base.intercept, prior_c)
        return model
    from sklearn.linear_model import LogisticRegression

    model = QualityModel(TfidfTransformer(sublinear_tf=True).fit(raw.counts).idf_, None, 0.0, n_features, max_chars, features=features)
    if features == "style":
        model.layout_mean = raw.layout.mean(axis=0)
        model.layout_scale = np.maximum(raw.layout.std(axis=0), 1e-6)
    # liblinear: exact on sparse, high-dimensional data and ~8x faster than lbfgs here.
    clf = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", random_state=0)
    clf.fit(model.design(raw), labels)
    model.coef, model.intercept = clf.coef_[0].copy(), float(clf.intercept_[0])
    return model


def _prior_fit(x, y: np.ndarray, w0: np.ndarray, b0: float, prior_c: float) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    sign = np.where(y == 1, 1.0, -1.0)
    n_pos = max(int((y == 1).sum()), 1)
    n_neg = max(int((y != 1).sum()), 1)
    weight = np.where(y == 1, len(y) / (2 * n_pos), len(y) / (2 * n_neg)) * prior_c  # sklearn's "balanced"
    xt = x.T.tocsr()

    def loss(params):
        w, b = params[:-1], params[-1]
        m = sign * (x @ w + b)
        value = np.sum(weight * np.logaddexp(0.0, -m)) + 0.5 * np.dot(w - w0, w - w0)
        g = -weight * sign * 0.5 * (1.0 - np.tanh(m / 2))  # d/dm log(1 + e^-m) = -sigmoid(-m)
        return value, np.concatenate([xt @ g + (w - w0), [g.sum()]])

    result = minimize(loss, np.concatenate([w0, [b0]]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x[:-1].copy(), float(result.x[-1])


def read_label_file(path: str | Path, where: str = "labels") -> list[dict]:
    """Label records from a JSONL file, checked: {"text": str, "label": 1 | 0, ...}. An empty file is
    an error (always a mistake: an annotation that labelled nothing, a wrong export); `where` names
    the option or field that gave the file ("--llm-labels")."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{where} {path}: labels file not found")
    records = [check_label_record(rec, f"{path}:{lineno}") for lineno, rec in read_json_objects(path)]
    if not records:
        raise DataError(f"{where} {path}: the file holds no label records (empty); nothing to train on")
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
    features: str = "style",
    base: "str | Path | QualityModel | None" = None,
    prior_c: float = 10.0,
) -> QualityModel:
    """Train on positive and negative document files (JSONL/Parquet/text files or directories,
    corpus artifacts) plus labeled records ({"text", "label": 1|0}, e.g. the review app's
    export); a labeled record's label wins over a seed file's for the same text (counted as
    `seed_labels_overridden`). Accuracy and AUC are measured on a stratified held-out share; the
    saved model is then refit on all examples. With `out`, the model is written there as an
    artifact.

    `base` (a model directory, `builtin:expository` or a QualityModel) adapts that model instead
    of training from nothing: its features stay, its weights are the prior the labels move away
    from (`fit`; `prior_c` = how far: larger follows the labels more). Then 2 examples of each
    class suffice, and `features`, `c`, `n_features` and `max_chars` are the base's."""
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
    if base is not None and not isinstance(base, QualityModel):
        base = QualityModel.load(base)
    need = 2 if base is not None else 5
    if min(n_pos, n_neg) < need:
        raise DataError(
            f"quality model: need at least {need} distinct positive and {need} negative examples (got {n_pos} and {n_neg})"
        )
    if base is not None:
        features, n_features, max_chars = base.features, base.n_features, base.max_chars
    if features not in FEATURE_KINDS:
        raise DataError(f"quality model: features must be one of {', '.join(FEATURE_KINDS)} (got {features!r})")

    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    raw = raw_features(features, texts, n_features, max_chars)
    heldout, p, te = None, None, None
    if min(n_pos, n_neg) >= 5:  # a held-out share with both classes in it
        tr, te = train_test_split(np.arange(len(texts)), test_size=test_fraction, stratify=labels, random_state=seed)
        held = fit(raw.rows(tr), labels[tr], features, n_features, max_chars, c, base, prior_c)
        held.seen_words = _seen(base, raw.rows(tr)) if features == "style" else None
        p = held.score([texts[i] for i in te])  # gated like any scoring, so the operating points are honest
        heldout = {
            "n": int(len(te)),
            "accuracy": round(float(accuracy_score(labels[te], p >= 0.5)), 4),
            "auc": round(float(roc_auc_score(labels[te], p)), 4),
        }
    model = fit(raw, labels, features, n_features, max_chars, c, base, prior_c)
    if features == "style":
        model.seen_words = _seen(base, raw)
    if p is not None:
        model.heldout_scores, model.heldout_labels = p, labels[te]
    model.metadata = {
        "examples": {"positive": n_pos, "negative": n_neg, **counts},
        "heldout": heldout,
        "test_fraction": test_fraction,
        "seed": seed,
        "C": c,
        "refit_on_all": True,
    }
    if base is not None:
        model.metadata["base"] = {"name": (base.metadata or {}).get("name", "a model"), "prior_c": prior_c}
    if out is not None:
        _write_artifact(model, Path(out), positives, negatives, texts, labels)
    return model


def _seen(base: QualityModel | None, raw: Raw) -> np.ndarray:
    seen = raw.seen()
    return seen | base.seen_words if base is not None and base.seen_words is not None else seen


def _write_artifact(model, out: Path, positives, negatives, texts, labels) -> None:
    from pintsize.artifacts import ArtifactWriter, hash_bytes

    inputs = {f"positive:{i}": p for i, p in enumerate(positives)} | {f"negative:{i}": p for i, p in enumerate(negatives)}
    training_hash = hash_bytes(json.dumps([texts, labels.tolist()]).encode())
    config = {k: model.metadata[k] for k in ("test_fraction", "seed", "C")} | {
        "n_features": model.n_features, "max_chars": model.max_chars, "features": model.features,
        "training_examples_sha256": training_hash,
    } | ({"base": model.metadata["base"]} if "base" in model.metadata else {})
    with ArtifactWriter(out, "quality", config, inputs=inputs) as art:
        model.save(art.dir)
        art.stats.update(model.metadata)
