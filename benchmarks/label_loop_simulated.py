"""The label loop (`pintsize quality label`) with a judge that labels correctly (simulated from each
document's true source): what ~100 labels of the target corpus do to a seed-trained model.

    python benchmarks/label_loop_simulated.py                      # the quality library, 40 documents a source
    python benchmarks/label_loop_simulated.py --heldout 50 --per-round 25 --rounds 2

The target corpus: `--per-source` documents of every source of the library (issue 26's
generalization benchmark; `sources.json` gives each source's true label), their first 3,000
characters. A third of each source is set aside as a test set the loop never sees; the rest is
written as a curate artifact (what reached the quality step) and labelled by the loop.
The start model is the demo's: stdlib pages against licences and configuration files (seeds).
Two retraining variants: the labels alone (the loop's default) and the seeds kept with the labels
(`--keep-seeds`).

Reported on the unseen test set: AUC, and at the loop's recommended threshold the share of
expository documents kept and of the rest kept, before (the start model at its threshold 0.5) and
after. Prints a table and a final JSON line; writes label_loop_simulated.json under $OUT if set.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pintsize.artifacts import ArtifactWriter  # noqa: E402
from pintsize.curate.label_loop import LoopConfig, run_label_loop  # noqa: E402
from pintsize.curate.quality import QualityModel, train_quality_model  # noqa: E402

LIBRARY = Path("/work/wt/quality-model/runs/quality-library")


class TrueKind:
    """A judge that is always right: the label of the document's source."""

    def __init__(self, labels: dict[str, int]):
        self.labels, self.asked = labels, 0

    def label(self, docs, what):
        self.asked += len(docs)
        return {d.id: {"label": self.labels[d.source], "origin": "simulated", "human": False} for d in docs}


def library_docs(library: Path, per_source: int, max_chars: int) -> tuple[list[dict], dict[str, int]]:
    kinds = json.loads((library / "sources.json").read_text())
    docs = []
    for name in sorted(kinds):
        path = library / "docs" / f"{name}.jsonl"
        if not path.is_file():
            continue
        texts = {json.loads(line)["text"][:max_chars] for line in path.read_text().splitlines() if line.strip()}
        for i, t in enumerate(sorted(texts, key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:per_source]):
            docs.append({"id": f"{name}/{i}", "source": name, "text": t, "test": i % 3 == 2})
    return docs, {k: int(v["label"]) for k, v in kinds.items()}


def write_corpus(docs: list[dict], out: Path) -> Path:
    with ArtifactWriter(out, "curate", {"simulated": True}) as art:
        (art.dir / "data").mkdir()
        table = pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs], "source": [d["source"] for d in docs],
                          "meta": ["{}"] * len(docs)})
        pq.write_table(table, art.dir / "data" / "part-00000.parquet")
    return out


def figures(model: QualityModel, test: list[dict], labels: dict[str, int], threshold: float) -> dict:
    from sklearn.metrics import roc_auc_score

    y = np.array([labels[d["source"]] for d in test])
    s = model.score([d["text"] for d in test])
    keep = s >= threshold
    worst = min((roc_auc_score(np.r_[np.ones(sum(1 for d in test if d["source"] == src)), np.zeros(int((y == 0).sum()))],
                               np.r_[s[[d["source"] == src for d in test]], s[y == 0]]), src)
                for src in sorted({d["source"] for d in test if labels[d["source"]] == 1}))
    return {"auc": round(float(roc_auc_score(y, s)), 4), "threshold": round(threshold, 4),
            "expository_kept": round(float(keep[y == 1].mean()), 4), "other_kept": round(float(keep[y == 0].mean()), 4),
            "worst_expository_source": worst[1], "worst_source_auc": round(float(worst[0]), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", type=Path, default=LIBRARY)
    ap.add_argument("--per-source", type=int, default=40)
    ap.add_argument("--max-chars", type=int, default=3000)
    ap.add_argument("--heldout", type=int, default=50)
    ap.add_argument("--per-round", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    docs, labels = library_docs(args.library, args.per_source, args.max_chars)
    test, target = [d for d in docs if d["test"]], [d for d in docs if not d["test"]]
    from pintsize.data.pydoc_corpus import write_pydoc_corpus

    negatives = sorted(glob.glob("/usr/share/doc/*/copyright")) + sorted(glob.glob("/etc/**/*.conf", recursive=True))
    negatives = [p for p in negatives if os.access(p, os.R_OK)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = write_corpus(target, tmp / "corpus")
        seeded = tmp / "demo-model"
        train_quality_model([write_pydoc_corpus()], negatives, out=seeded)  # the demo's seeds, listed in its manifest
        start = QualityModel.load(seeded)
        results["start (demo seeds, threshold 0.5)"] = figures(start, test, labels, 0.5)
        for variant in ("seeds + labels", "labels only"):
            judge = TrueKind(labels)
            config = LoopConfig(rounds=args.rounds, per_round=args.per_round, heldout=args.heldout, keep_seeds=variant == "seeds + labels")
            summary = run_label_loop(corpus, tmp / variant.replace(" ", ""), config, start_model=seeded, source=judge,
                                     report=lambda row: None)
            model = QualityModel.load(tmp / variant.replace(" ", ""))
            results[f"after {judge.asked} labels, {variant}"] = figures(model, test, labels, summary["operating_point"]["threshold"]) | {
                "heldout_reported": {k: summary["operating_point"][k] for k in ("auc", "recall", "other_kept")}}
    print(f"{len(docs)} documents of {len({d['source'] for d in docs})} sources; {len(target)} in the corpus the loop labels, "
          f"{len(test)} unseen test documents")
    print(f"{'model':42s} {'AUC':>6s} {'threshold':>9s} {'expository kept':>15s} {'other kept':>10s}  worst expository source (AUC)")
    for name, r in results.items():
        print(f"{name:42s} {r['auc']:>6.3f} {r['threshold']:>9.3f} {r['expository_kept']:>15.1%} {r['other_kept']:>10.1%}  "
              f"{r['worst_expository_source']} ({r['worst_source_auc']:.3f})")
    out = {"documents": len(docs), "corpus": len(target), "test": len(test), "heldout": args.heldout, "per_round": args.per_round,
           "rounds": args.rounds, "results": results}
    print(json.dumps(out))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "label_loop_simulated.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
