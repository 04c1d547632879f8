"""How quality models judge the ablation's sources, which no quality model trains on (issue 26).

    bash scripts/fetch_ablation_data.sh
    python benchmarks/quality_ablation_sources.py builtin:expository OTHER_MODEL_DIR [--recipe recipes/ablation.toml]

Scores the raw files of the recipe's sources (whole files, as curate reads them: the recipe's paths,
and HTML through the source's own `html` extractor; at most 300 a source) with each model and
prints, per source, the median score and the share kept at the model's recommended threshold, and
the AUC of the expository sources (Python's reST documentation, the PostgreSQL manual, the Linux
admin guide's reST) against the others (assistant chats, Shakespeare and Milton, Debian copyright
files and changelogs). No heuristic filter or dedup runs first, so the shares differ from a curate
run's quality step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pintsize.curate.normalize import html_to_text  # noqa: E402
from pintsize.curate.quality import QualityModel  # noqa: E402
from pintsize.curate.shards import source_files  # noqa: E402
from pintsize.recipe import load_recipe  # noqa: E402

CLASSES = {  # the recipe's sources compared, 1 = expository (the README pages are mixed: left out)
    "python-rst": 1, "postgres-manual": 1, "linux-admin-guide": 1,
    "assistant-chat": 0, "shakespeare": 0, "debian-copyright": 0, "debian-changelog": 0,
}


def main() -> None:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="quality models: builtin:expository or model directories")
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "ablation.toml"))
    ap.add_argument("--per-source", type=int, default=300)
    args = ap.parse_args()
    texts, labels, sources = [], [], []
    for source in load_recipe(args.recipe).data.sources:
        if source.name not in CLASSES:
            continue
        for f in source_files(source)[: args.per_source]:  # raises, naming the source, when none match
            text = f.read_text(encoding="utf-8", errors="replace")
            if source.html != "none":
                text = html_to_text(text, source.html)
            if len(text) >= 500:
                texts.append(text), labels.append(CLASSES[source.name]), sources.append(source.name)
    labels, sources = np.array(labels), np.array(sources)
    for spec in args.models:
        model = QualityModel.load(spec)
        threshold = float((model.metadata or {}).get("recommended_threshold", 0.5))
        scores = model.score(texts)
        print(f"\n{spec}: recommended threshold {threshold:.3f}; AUC expository vs other {roc_auc_score(labels, scores):.3f}")
        print("| source | class | documents | median score | kept |\n|---|---|---|---|---|")
        for name, label in CLASSES.items():
            mine = scores[sources == name]
            print(f"| {name} | {'exp' if label else 'other'} | {len(mine)} | {np.median(mine):.3f} | {np.mean(mine >= threshold):.0%} |")


if __name__ == "__main__":
    main()
