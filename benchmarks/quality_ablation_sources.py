"""How quality models judge the ablation's sources, which no quality model trains on (issue 26).

    bash scripts/fetch_ablation_data.sh
    python benchmarks/quality_ablation_sources.py builtin:expository OTHER_MODEL_DIR [--html trafilatura]

Scores the raw files of the ablation recipe's sources (whole files, as curate reads them; at most 300
a source; HTML through trafilatura as the recipe does, or inscriptis) with each model and prints, per
source, the median score and the share kept at the model's recommended threshold, and the AUC of the
expository sources (Python's reST documentation, the PostgreSQL manual, the Linux admin guide's reST)
against the others (assistant chats, Shakespeare and Milton, Debian copyright files and changelogs).
No heuristic filter or dedup runs first, so the shares differ from a curate run's quality step.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pintsize.curate.quality import QualityModel  # noqa: E402

DATA = "runs/ablation-data"
SOURCES = {  # name: (glob under the repository, 1 = expository)
    "python-rst": (f"{DATA}/pkg/python3.11-doc/usr/share/doc/python3.11/html/_sources/[!lw]*/**/*.rst.txt", 1),
    "postgres-manual": (f"{DATA}/pkg/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html/[a-p]*.html", 1),
    "linux-admin-guide": (f"{DATA}/pkg/linux-doc-6.1/usr/share/doc/linux-doc-6.1/html/_sources/admin-guide/**/*.rst.txt", 1),
    "assistant-chat": (f"{DATA}/extra/chat/*.txt", 0),
    "shakespeare": (f"{DATA}/extra/shakespeare/*.txt", 0),
    "debian-copyright": (f"{DATA}/system/copyright/[a-m]*.txt", 0),
    "debian-changelog": (f"{DATA}/system/changelog/[a-k]*.txt", 0),
}


def read(path: str, html: str) -> str:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if path.endswith(".html"):
        if html == "trafilatura":
            import trafilatura

            return trafilatura.extract(text, include_tables=True) or ""
        import inscriptis

        return inscriptis.get_text(text)
    return text


def main() -> None:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="quality models: builtin:expository or model directories")
    ap.add_argument("--html", choices=["trafilatura", "inscriptis"], default="trafilatura")
    ap.add_argument("--per-source", type=int, default=300)
    args = ap.parse_args()
    texts, labels, sources = [], [], []
    for name, (pattern, label) in SOURCES.items():
        files = sorted(glob.glob(str(ROOT / pattern), recursive=True))[: args.per_source]
        if not files:
            raise SystemExit(f"{name}: no files match {pattern} (run scripts/fetch_ablation_data.sh first)")
        for f in files:
            text = read(f, args.html)
            if len(text) >= 500:
                texts.append(text), labels.append(label), sources.append(name)
    labels, sources = np.array(labels), np.array(sources)
    for spec in args.models:
        model = QualityModel.load(spec)
        threshold = float((model.metadata or {}).get("recommended_threshold", 0.5))
        scores = model.score(texts)
        print(f"\n{spec}: recommended threshold {threshold:.3f}; AUC expository vs other {roc_auc_score(labels, scores):.3f}")
        print("| source | class | documents | median score | kept |\n|---|---|---|---|---|")
        for name, (_, label) in SOURCES.items():
            mine = scores[sources == name]
            print(f"| {name} | {'exp' if label else 'other'} | {len(mine)} | {np.median(mine):.3f} | {np.mean(mine >= threshold):.0%} |")


if __name__ == "__main__":
    main()
