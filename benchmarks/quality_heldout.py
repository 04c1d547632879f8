"""The quality classifier judged on kinds of text it never saw (issue 14).

Trains two models on the stdlib documentation (pydoc) as positives:
- `licences`: the demo's seed negatives, Debian copyright files only;
- `licences+chat`: the same plus ShareGPT conversations (a second kind of non-expository text).
Then scores held-out text from other sources: the Python 3.11 reST docs (textbook-like), Debian
changelogs, system log chunks (dpkg/apt logs), web assets of an HTML build (JS/CSS), and
degenerate text. Prints, per model and kind, the AUC against the held-out docs and the share kept
at threshold 0.5 and at the threshold that keeps 90% of the held-out docs.

    PYTHONPATH=src python benchmarks/quality_heldout.py [--n 200]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import random
import string
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "curate"))
from realdata import pydoc_texts, python_rst_files, read, sharegpt_chats, web_asset_files  # noqa: E402

from pintsize.curate.quality import train_quality_model  # noqa: E402

CHARS = 3000


def _chunks(lines: list[str], size: int, n: int) -> list[str]:
    return ["".join(lines[i : i + size]) for i in range(0, len(lines) - size, size)][:n]


def changelogs(n: int) -> list[str]:
    files = sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))
    random.Random(0).shuffle(files)
    return [gzip.open(f, "rt", errors="replace").read()[:CHARS] for f in files[:n]]


def logs(n: int) -> list[str]:
    lines = []
    for f in ("/var/log/dpkg.log", "/var/log/alternatives.log", *sorted(glob.glob("/var/log/apt/*.log"))):
        try:
            lines += Path(f).read_text(errors="replace").splitlines(keepends=True)
        except OSError:
            pass
    return _chunks(lines, 30, n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    n = ap.parse_args().n
    tmp = Path(tempfile.mkdtemp())
    w = lambda name, texts: (tmp / name).write_text("".join(json.dumps({"text": t[:CHARS]}) + "\n" for t in texts)) and tmp / name  # noqa: E731
    pydoc = [p["text"] for p in pydoc_texts(2 * n)]
    copyrights = sorted(glob.glob("/usr/share/doc/*/copyright"))
    random.Random(0).shuffle(copyrights)
    pos = w("pos.jsonl", pydoc[:n])
    lic = w("lic.jsonl", [read(Path(f)) for f in copyrights[:n]])
    chats = list(sharegpt_chats(n))
    chat = w("chat.jsonl", chats)
    rng = random.Random(0)
    kinds = {
        "Debian changelogs": changelogs(n),
        "system logs (dpkg/apt)": logs(n),
        "web assets (JS/CSS)": [read(p)[:CHARS] for p in web_asset_files()[:n]],
        "random letters": [" ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(300)) for _ in range(50)],
        "empty / near-empty": ["", " ", "ok", "see above"] * 10,
    }
    docs = [read(p)[:CHARS] for p in python_rst_files(n)]
    rows = []
    for name, negs in (("licences", [lic]), ("licences+chat", [lic, chat])):
        model = train_quality_model([pos], negs)
        s_docs = model.score(docs)
        t90 = float(np.quantile(s_docs, 0.1))
        rows.append({"model": name, "kind": "Python reST docs (positive)", "n": len(docs), "auc": None,
                     "keep_at_0.5": round(float((s_docs >= 0.5).mean()), 3), "keep_at_t90": 0.9, "t90": round(t90, 3)})
        for kind, texts in kinds.items():
            s = model.score(texts)
            auc = roc_auc_score([1] * len(s_docs) + [0] * len(s), np.concatenate([s_docs, s]))
            rows.append({"model": name, "kind": kind, "n": len(texts), "auc": round(float(auc), 3),
                         "keep_at_0.5": round(float((s >= 0.5).mean()), 3), "keep_at_t90": round(float((s >= t90).mean()), 3), "t90": round(t90, 3)})
    print(f"{'model':<15}{'kind':<30}{'n':>5}{'AUC':>7}{'keep@0.5':>10}{'keep@t90':>10}")
    for r in rows:
        print(f"{r['model']:<15}{r['kind']:<30}{r['n']:>5}{r['auc'] if r['auc'] is not None else '-':>7}{r['keep_at_0.5']:>10}{r['keep_at_t90']:>10}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
