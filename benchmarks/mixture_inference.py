"""Controlled mixture-inference experiments (Hayase et al. 2024): train BPEs on known random byte
mixtures of real category text with pintsize's own BPE trainer, recover the mixtures, and report
log10 MSE beside the uniform guess; plus wall time as merges and categories grow.

    bash scripts/mixture_categories.sh /tmp/mixture-categories
    python benchmarks/mixture_inference.py /tmp/mixture-categories --mixtures 10 --merges 1000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from pintsize.tokenizer.mixture_inference import infer_mixture
from pintsize.tokenizer.train import train_bpe_backend


def category_texts(root: Path, size: int, seed: int = 0) -> dict[str, tuple[list[str], str]]:
    """Per category: 4 KB training chunks and a held-out sample, drawn from the same shuffled chunks
    so that both follow one distribution (a file-order split makes them differ: man pages by topic)."""
    rng = np.random.default_rng(seed)
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        raw = b"\n".join(f.read_bytes() for f in sorted(d.rglob("*")) if f.is_file()).decode("utf-8", errors="ignore")
        chunks = [raw[i:i + 4000] for i in range(0, len(raw), 4000)]
        chunks = [chunks[i] for i in rng.permutation(len(chunks))][: 2 * size // 4000]
        out[d.name] = (chunks[0::2], "".join(chunks[1::2]))
    return out


def run(root: Path, mixtures: int, merges: int, size: int, seed: int, in_sample: bool = False) -> dict:
    texts = category_texts(root, size, seed)
    names = list(texts)
    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = {}
        for k, (train, held_out) in texts.items():
            (tmp / k).mkdir()
            (tmp / k / "s.txt").write_text("".join(train) if in_sample else held_out, encoding="utf-8")
            samples[k] = tmp / k
        budget = min(len(train) for train, _ in texts.values())  # chunks of the largest possible share
        for m in range(mixtures):
            truth = rng.dirichlet(np.ones(len(names)))
            docs = []
            for k, share in zip(names, truth):
                docs += texts[k][0][: int(round(share * budget))]
            truth = np.array([len("".join(texts[k][0][: int(round(s * budget))]).encode()) for k, s in zip(names, truth)], float)
            truth /= truth.sum()  # the byte shares actually trained on
            tok = train_bpe_backend(docs, vocab_size=256 + 4 + merges + 64 + 64)
            tok.save(str(tmp / "tokenizer.json"))
            t0 = time.perf_counter()
            res = infer_mixture(tmp / "tokenizer.json", samples, merges=merges, sample_bytes=size)
            wall = time.perf_counter() - t0
            got = np.array([res["proportions"][k] for k in names])
            mse, uni = float(np.mean((got - truth) ** 2)), float(np.mean((1 / len(names) - truth) ** 2))
            rows.append({"truth": truth.round(4).tolist(), "inferred": got.round(4).tolist(), "log10_mse": np.log10(mse),
                         "log10_mse_uniform": np.log10(uni), "wall_s": wall, "merges": res["merges_used"], "lp": res["lp"]})
            print(f"mixture {m}: log10 MSE {np.log10(mse):6.2f}  uniform {np.log10(uni):6.2f}  {wall:5.1f}s  {res['lp']}", flush=True)
    summary = {"categories": names, "sample_bytes": size, "merges": merges,
               "mean_log10_mse": float(np.mean([r["log10_mse"] for r in rows])),
               "mean_log10_mse_uniform": float(np.mean([r["log10_mse_uniform"] for r in rows])),
               "median_wall_s": float(np.median([r["wall_s"] for r in rows])), "runs": rows}
    print("| categories | merges | sample bytes | mixtures | mean log10 MSE | uniform guess | median wall s |")
    print(f"| {len(names)} | {merges} | {size:,} | {mixtures} | {summary['mean_log10_mse']:.2f} | "
          f"{summary['mean_log10_mse_uniform']:.2f} | {summary['median_wall_s']:.1f} |")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    return summary


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--mixtures", type=int, default=10)
    ap.add_argument("--merges", type=int, default=1000)
    ap.add_argument("--sample-bytes", type=int, default=400_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--in-sample", action="store_true", help="infer on the trainer's own text (checks the method, not sampling)")
    a = ap.parse_args()
    s = run(a.root, a.mixtures, a.merges, a.sample_bytes, a.seed, a.in_sample)
    if a.json:
        a.json.write_text(json.dumps(s, indent=2))
