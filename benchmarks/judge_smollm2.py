"""SmolLM2-135M-Instruct as the quality judge, scored by logprobs: how well its expected 0-5 score
agrees with the true kind of real documents (expository or not), and what it costs per document.

    python benchmarks/judge_smollm2.py                                   # the quality library, 3 documents a source
    python benchmarks/judge_smollm2.py --per-source 2 --text-sample 8    # also 8 documents scored by parsing replies

The documents: `--library` (default: the library of issue 26's generalization benchmark,
one JSONL file per source with "text", and `sources.json` giving each source's label 1/0); the
first `--per-source` documents of each source by sha256 order, their first `--max-chars` characters.
The judge: `pintsize serve MODEL` (a subprocess) asked exactly as `pintsize quality annotate` and
`quality label` ask it (curate/judge.py): the rubric, the score alone, logprobs with the top 20
tokens; the score is the expected value over "0".."5". `--text-sample N` asks N documents the other
way too (justify, then "Educational score: N", parsed) for comparison.

Reported: AUC of the expected score against the true kind, accuracy and balanced accuracy of the
label (rounded score >= 3, FineWeb-Edu's cut, what the tools write), the mean expected score per
source, and wall seconds per document (requests `--concurrency` at a time, decoded in one batch by
the server). Prints a table and a final JSON line; writes judge_smollm2.json under $OUT if set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pintsize.curate.judge import Judge  # noqa: E402
from pintsize.curate.judging import JudgeCache, ask_all, cache_key  # noqa: E402

LIBRARY = Path("/work/wt/quality-model/runs/quality-library")
MODEL = Path("/work/wt/_shared/smollm2")


def sample(library: Path, per_source: int, max_chars: int) -> list[dict]:
    kinds = json.loads((library / "sources.json").read_text())
    docs = []
    for name, info in sorted(kinds.items()):
        path = library / "docs" / f"{name}.jsonl"
        if not path.is_file():
            continue
        texts = [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
        texts = sorted({t[:max_chars] for t in texts if t.strip()}, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
        docs += [{"source": name, "label": int(info["label"]), "kind": info.get("kind", ""), "text": t} for t in texts[:per_source]]
    return docs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, concurrent: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "pintsize", "serve", str(model), "--port", str(port), "--name", "judge",
                             "--max-concurrent", str(concurrent), "--device", "cpu"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pintsize serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("pintsize serve did not start")


def judge_all(url: str, docs: list[dict], scoring: str, concurrency: int, work: Path) -> tuple[list[dict | None], float, Judge]:
    judge = Judge(url, "judge", timeout=600, max_retries=1, scoring=scoring)
    judge.probe()
    with JudgeCache(work / f"cache-{scoring}.jsonl") as cache:
        t0 = time.perf_counter()
        ask_all(judge, [d["text"] for d in docs], cache, concurrency=concurrency, progress=False)
        seconds = time.perf_counter() - t0
        answers = [cache.cache.get(cache_key(d["text"], judge)) for d in docs]
    judge.close()
    return answers, seconds, judge


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", type=Path, default=LIBRARY)
    ap.add_argument("--model", type=Path, default=MODEL, help="a pintsize model directory (pintsize import gguf builtin:smollm2 OUT)")
    ap.add_argument("--per-source", type=int, default=3)
    ap.add_argument("--max-chars", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--text-sample", type=int, default=0, help="documents also scored by parsing the reply (slow: 256 new tokens each)")
    args = ap.parse_args()
    from sklearn.metrics import roc_auc_score

    docs = sample(args.library, args.per_source, args.max_chars)
    port = free_port()
    server = start_server(args.model, port, args.concurrency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            answers, seconds, judge = judge_all(f"http://127.0.0.1:{port}/v1", docs, "auto", args.concurrency, Path(tmp))
            text = None
            if args.text_sample:
                picked = docs[:: max(1, len(docs) // args.text_sample)][: args.text_sample]
                t_answers, t_seconds, _ = judge_all(f"http://127.0.0.1:{port}/v1", picked, "text", args.concurrency, Path(tmp))
                text = {"documents": len(picked), "parsed": sum(a is not None and a.get("score") is not None for a in t_answers),
                        "seconds_per_document": round(t_seconds / len(picked), 2),
                        "replies": [(a or {}).get("reply", "")[:160] for a in t_answers[:3]]}
    finally:
        server.terminate()
        server.wait(timeout=60)

    scored = [(d, a) for d, a in zip(docs, answers) if a is not None and a.get("score") is not None]
    y = np.array([d["label"] for d, _ in scored])
    e = np.array([a["expected_score"] for _, a in scored])
    label = np.array([a["score"] >= 3 for _, a in scored]).astype(int)
    per_source = {}
    for name in sorted({d["source"] for d in docs}):
        vals = [a["expected_score"] for d, a in scored if d["source"] == name]
        per_source[name] = {"label": next(d["label"] for d in docs if d["source"] == name), "n": len(vals),
                            "mean_expected": round(float(np.mean(vals)), 3) if vals else None}
    result = {
        "documents": len(docs), "sources": len(per_source), "expository_sources": sum(v["label"] for v in per_source.values()),
        "scored": len(scored), "scoring": judge.method,
        "auc": round(float(roc_auc_score(y, e)), 4),
        "accuracy_at_3": round(float((label == y).mean()), 4),
        "balanced_accuracy_at_3": round(float(((label == 1) & (y == 1)).sum() / (y == 1).sum() / 2 + ((label == 0) & (y == 0)).sum() / (y == 0).sum() / 2), 4),
        "labelled_expository": round(float(label.mean()), 4),
        "mean_expected_expository": round(float(e[y == 1].mean()), 3), "mean_expected_other": round(float(e[y == 0].mean()), 3),
        "seconds_per_document": round(seconds / len(docs), 2), "concurrency": args.concurrency, "max_chars": args.max_chars,
        "load_average": os.getloadavg(), "per_source": per_source, "text_scoring": text,
    }
    print(f"{'source':22s} {'true':>4s} {'n':>3s} {'mean E[score]':>13s}")
    for name, v in per_source.items():
        print(f"{name:22s} {v['label']:>4d} {v['n']:>3d} {v['mean_expected'] if v['mean_expected'] is not None else '-':>13}")
    print(f"\n{len(docs)} documents from {len(per_source)} sources; scored {len(scored)} by {judge.method}")
    print(f"AUC {result['auc']}, accuracy at score >= 3 {result['accuracy_at_3']} (balanced {result['balanced_accuracy_at_3']}), "
          f"{result['seconds_per_document']} s per document at concurrency {args.concurrency}")
    if text:
        print(f"text scoring: {text['parsed']} of {text['documents']} replies parsed, {text['seconds_per_document']} s per document")
    print(json.dumps(result))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "judge_smollm2.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
