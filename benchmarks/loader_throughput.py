"""Loader throughput: TokenLoader batches per second from a warm page cache, in one process.

Packs the stdlib documentation (pydoc, repeated `--repeat` times) with a trained 8k BPE, reads
it once to warm the page cache, then times `--batches` batches for a few shapes, with and
without a source mixture. Tokens/s counts input tokens handed to the trainer.

    python benchmarks/loader_throughput.py [--repeat 2] [--batches 400]

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from itertools import islice
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="copies of the pydoc corpus")
    ap.add_argument("--batches", type=int, default=400, help="batches timed per shape")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from pintsize.data.config import PackConfig
    from pintsize.data.loader import TokenLoader, eval_batches
    from pintsize.data.pack import pack_corpus
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.train import train_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="loader-bench-"))
    try:
        corpus = tmp / "corpus.jsonl"
        with open(corpus, "w", encoding="utf-8") as f:
            for r in range(args.repeat):
                for i, d in enumerate(pydoc_documents()):
                    f.write(json.dumps({"text": d["text"], "source": ("a", "b", "c")[i % 3]}) + "\n")
        tok = train_tokenizer(corpus, tmp / "tok", vocab_size=8192, max_docs_per_source=100)
        shards = pack_corpus(corpus, tok, tmp / "shards", PackConfig(val_fraction=0.02, shard_tokens=1_000_000), progress=False)
        for f in shards.rglob("*.bin"):  # warm the page cache
            f.read_bytes()

        cases = [
            ("train 8 x 2048", dict(seq_len=2048, batch_size=8)),
            ("train 32 x 256", dict(seq_len=256, batch_size=32)),
            ("train 8 x 2048, 3-source mixture", dict(seq_len=2048, batch_size=8, source_weights={"a": 0.5, "b": 0.3, "c": 0.2})),
            ("train 8 x 2048, rank 3 of 8", dict(seq_len=2048, batch_size=8, rank=3, world_size=8)),
        ]
        rows = []
        for name, kwargs in cases:
            loader = TokenLoader(shards, seed=0, **kwargs)
            it = iter(loader)
            next(it)
            t0 = time.perf_counter()
            n = sum(b["input_ids"].numel() for b in islice(it, args.batches))
            dt = time.perf_counter() - t0
            rows.append({"case": name, "tokens": n, "seconds": round(dt, 4), "tokens_per_s": round(n / dt), "passes": loader.passes})
        t0 = time.perf_counter()
        n = sum(b["input_ids"].numel() for b in eval_batches(shards, "val", 2048, 8))
        dt = time.perf_counter() - t0
        rows.append({"case": "eval_batches val 8 x 2048", "tokens": n, "seconds": round(dt, 4), "tokens_per_s": round(n / dt), "passes": 1})

        table = Table(title=f"TokenLoader, one process, warm page cache ({sum(1 for _ in shards.rglob('*.bin'))} shards)")
        for col in ("case", "tokens", "seconds", "tokens/s", "passes"):
            table.add_column(col, justify="left" if col == "case" else "right")
        for r in rows:
            table.add_row(r["case"], f"{r['tokens']:,}", f"{r['seconds']:.3f}", f"{r['tokens_per_s']:,}", str(r["passes"]))
        Console().print(table)
        print(json.dumps({"benchmark": "loader_throughput", "min_tokens_per_s": min(r["tokens_per_s"] for r in rows), "cases": rows}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
