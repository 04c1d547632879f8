"""Pack throughput: `pack_corpus` against the raw `tokenizers` batch encoder on the same text.

The corpus is the stdlib documentation (pydoc), repeated `--repeat` times so each run lasts
seconds; the baseline is one `encode_batch` call over every text with all cores (Rayon
threads), shown next to `encode_batch_fast` (no character offsets, which pack uses); pack also
reads JSONL, shuffles, and writes shards. Runs alternate (raw, fast, pack), and the ratio is
the median of each round's ratio, because other work on a shared machine moves single timings
around by a factor of two.

    python benchmarks/pack_throughput.py [--repeat 4] [--runs 3] [--workers N] [--tokenizer pints|bpe]

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "true"  # the baseline gets the library's own threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=4, help="copies of the pydoc corpus")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="pack threads (default: all cores)")
    ap.add_argument("--tokenizer", choices=["pints", "bpe"], default="pints")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from pintsize.data.config import PackConfig
    from pintsize.data.pack import pack_corpus
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.load import TokenizerInfo
    from pintsize.tokenizer.pints import build_pints_tokenizer
    from pintsize.tokenizer.train import train_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="pack-bench-"))
    try:
        docs = pydoc_documents()
        corpus = tmp / "corpus.jsonl"
        with open(corpus, "w", encoding="utf-8") as f:
            for r in range(args.repeat):
                for d in docs:
                    f.write(json.dumps({"text": d["text"], "source": d["source"]}) + "\n")
        texts = [d["text"] for d in docs] * args.repeat
        if args.tokenizer == "pints":
            tok_dir = build_pints_tokenizer(tmp / "tok")
        else:
            tok_dir = train_tokenizer(corpus, tmp / "tok", vocab_size=8192, max_docs_per_source=200)
        backend = TokenizerInfo.read(tok_dir).backend
        config = PackConfig(val_fraction=0.01, shard_tokens=2_000_000)

        raw_rates, fast_rates, pack_rates = [], [], []
        for run in range(args.runs):
            for encode, rates in ((backend.encode_batch, raw_rates), (backend.encode_batch_fast, fast_rates)):
                t0 = time.perf_counter()
                encodings = encode(texts, add_special_tokens=False)
                raw_s = time.perf_counter() - t0
                raw_tokens = sum(len(e.ids) for e in encodings)
                del encodings
                rates.append(raw_tokens / raw_s)

            out = tmp / f"shards-{run}"
            t0 = time.perf_counter()
            pack_corpus(corpus, tok_dir, out, config, workers=args.workers, progress=False)
            pack_s = time.perf_counter() - t0
            meta = json.loads((out / "meta.json").read_text())
            text_tokens = sum(meta["splits"][s]["tokens"] for s in meta["splits"]) - 2 * meta["input"]["kept"]
            pack_rates.append(text_tokens / pack_s)  # BOS/EOS not counted: the baseline has none
            shutil.rmtree(out)

        raw, fast, packed = (statistics.median(r) for r in (raw_rates, fast_rates, pack_rates))
        ratio = statistics.median(p / r for p, r in zip(pack_rates, raw_rates))
        ratio_fast = statistics.median(p / r for p, r in zip(pack_rates, fast_rates))
        table = Table(title=f"pack throughput ({args.tokenizer} tokenizer, {os.cpu_count()} cores, {raw_tokens:,} tokens)")
        for col in ("what", "tokens/s (median)", "runs"):
            table.add_column(col)
        table.add_row("tokenizers encode_batch (raw)", f"{raw:,.0f}", " ".join(f"{r:,.0f}" for r in raw_rates))
        table.add_row("tokenizers encode_batch_fast (raw)", f"{fast:,.0f}", " ".join(f"{r:,.0f}" for r in fast_rates))
        table.add_row("pintsize pack (read+tokenize+shuffle+write)", f"{packed:,.0f}", " ".join(f"{r:,.0f}" for r in pack_rates))
        Console().print(table)
        print(json.dumps({
            "benchmark": "pack_throughput", "tokenizer": args.tokenizer, "cores": os.cpu_count(), "tokens": raw_tokens,
            "raw_tokens_per_s": round(raw), "raw_fast_tokens_per_s": round(fast), "pack_tokens_per_s": round(packed),
            "ratio": round(ratio, 3), "ratio_vs_fast": round(ratio_fast, 3),
        }))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
