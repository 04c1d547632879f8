"""Held-out bits per byte of a model and its pruned versions (issue 15's "before any training" row).

    python benchmarks/prune_heldout_bpb.py HELDOUT.jsonl MODEL_DIR [MODEL_DIR ...] [--chars N]

Prints a table and one JSON line per model."""

from __future__ import annotations

import json
import sys

from transformers import AutoTokenizer

from pintsize.eval.perplexity import evaluate_perplexity
from pintsize.model.checkpoint import load_model, tokenizer_path


def main(argv: list[str]) -> None:
    chars = int(argv[argv.index("--chars") + 1]) if "--chars" in argv else 4000
    args = [a for i, a in enumerate(argv) if a != "--chars" and (i == 0 or argv[i - 1] != "--chars")]
    heldout, models = args[0], args[1:]
    texts = [json.loads(line)["text"][:chars] for line in open(heldout, encoding="utf-8") if line.strip()]
    rows = []
    for m in models:
        model = load_model(m).eval()
        tok = AutoTokenizer.from_pretrained(str(tokenizer_path(m)))
        r = evaluate_perplexity(model, tok, texts, seq_len=512)
        rows.append({"model": m, "params": model.num_params(), **r.as_dict()})
        print(json.dumps(rows[-1]), flush=True)
    print(f"{'model':40} {'params':>12} {'tokens':>8} {'bits/byte':>10}")
    for r in rows:
        print(f"{r['model']:40} {r['params']:>12,} {r['tokens']:>8} {r['bits_per_byte']:>10.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
