"""Train the built-in quality model `builtin:expository` on the whole quality library and write it
into the package (src/pintsize/curate/builtin_models/expository).

    bash scripts/fetch_quality_library.sh
    python scripts/train_builtin_quality.py [--library runs/quality-library] [--out DIR]

Style features (pintsize.curate.quality_features), every library document labelled by its
source's class. What the model stores as its held-out scores are the *out-of-source* scores of
benchmarks/quality_generalization.py (each document scored by a model trained without its source),
so `operating_point(t)` says what a threshold means on text of a kind the model never saw. The
recommended threshold is chosen the same way (the benchmark's rule on those scores), never on the
scores of a source the model was trained on.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

import quality_generalization as bench  # noqa: E402

from pintsize.curate.quality import builtin_dir, fit, raw_features  # noqa: E402

NAME = "builtin:expository"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", default=str(ROOT / "runs" / "quality-library"))
    ap.add_argument("--out", default=str(builtin_dir("expository")))
    args = ap.parse_args()
    lib = bench.load_library(Path(args.library))
    kind, n_features, max_chars, c = "style", bench.N_FEATURES, bench.MAX_CHARS, bench.C
    scores = bench.out_of_source_scores(bench.SparseFamily(kind), lib)
    loso = bench.evaluate(scores, lib)
    threshold = loso["recommended_threshold"]
    raw = raw_features(kind, lib.texts, n_features, max_chars)
    model = fit(raw, lib.labels, kind, n_features, max_chars, c)
    model.seen_words = raw.seen()
    model.heldout_scores, model.heldout_labels = scores, lib.labels
    model.metadata = {
        "name": NAME,
        "recommended_threshold": threshold,
        "examples": {"positive": int(lib.labels.sum()), "negative": int((lib.labels == 0).sum())},
        "heldout": {
            "kind": "leave one source out (each document scored by a model trained without its source)",
            "n": int(len(scores)),
            "mean_auc": loso["mean_auc"],
            "worst_auc": loso["worst_auc"],
            "worst_source": loso["worst_source"],
            "auc": loso["pooled_auc"],
            "accuracy": round(float(((scores >= threshold) == lib.labels).mean()), 4),
        },
        "operating_point": model.operating_point(threshold),
        "C": c,
        "trained_by": "scripts/train_builtin_quality.py",
        "library": {s: {"label": m["label"], "kind": m["kind"], "packages": m["packages"], "documents": m["documents"]}
                    for s, m in lib.meta.items()},
    }
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{NAME}: {out} ({size / 1e6:.2f} MB); LOSO mean AUC {loso['mean_auc']}, worst {loso['worst_auc']} "
          f"({loso['worst_source']}); recommended threshold {threshold}: {model.operating_point(threshold)}")
    print(f"keeps (each source held out): expository {loso['keep_expository_mean']} (worst {loso['keep_expository_worst']}), "
          f"other {loso['keep_other_mean']} (worst {loso['keep_other_worst']})")
    assert np.isfinite(model.coef).all()


if __name__ == "__main__":
    main()
