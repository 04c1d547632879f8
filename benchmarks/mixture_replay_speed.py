"""Wall and CPU time of mixture inference as merges and categories grow: word counting, merge replay and LP.
One replay per category count; the replay's time is read at each merge checkpoint on the way. On a
shared machine the process CPU time (one core) is the figure to read; wall time includes waiting.

    bash scripts/mixture_speed_categories.sh /tmp/mixture-speed
    pintsize import gguf builtin:smollm2 ... (or any byte-level tokenizer.json with >= 30k merges)
    python benchmarks/mixture_replay_speed.py TOKENIZER /tmp/mixture-speed --merges 1000 3000 10000 30000 --categories 2 5 10
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from pintsize.tokenizer.mixture_inference import load_merges, read_category, word_counts
from pintsize.tokenizer.mixture_lp import solve_mixture
from pintsize.tokenizer.mixture_replay import replay_categories


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer", type=Path)
    ap.add_argument("root", type=Path)
    ap.add_argument("--merges", type=int, nargs="+", default=[1000, 3000, 10000, 30000])
    ap.add_argument("--categories", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--sample-bytes", type=int, default=10_000_000)
    ap.add_argument("--lp", action="store_true", help="also time the LP at the largest merge count")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    steps, _, tok = load_merges(a.tokenizer)
    dirs = sorted(p for p in a.root.iterdir() if p.is_dir())[: max(a.categories)]
    words, scale, count_s = [], [], []
    for d in dirs:
        t0 = time.process_time()
        text = read_category(d, a.sample_bytes)
        words.append(word_counts(tok, text))
        scale.append(len(text.encode("utf-8")))
        count_s.append(time.process_time() - t0)
        print(f"{d.name}: {scale[-1]:,} bytes, {len(words[-1]):,} distinct words, counted in {count_s[-1]:.1f} CPU s", flush=True)
    rows = []
    for n in a.categories:
        marks, times, walls = set(a.merges), {}, {}
        t0, w0 = time.process_time(), time.perf_counter()

        def progress(t: int) -> None:
            if t + 1 in marks:
                times[t + 1], walls[t + 1] = time.process_time() - t0, time.perf_counter() - w0
                print(f"  {n} categories, {t + 1} merges: replay {times[t + 1]:.1f} CPU s ({walls[t + 1]:.1f} s wall)", flush=True)

        rec = replay_categories(steps[: max(a.merges)], words[:n], scale[:n], progress=progress)
        record_s = time.process_time() - t0  # the replay and the joining of its logs into segments
        print(f"  record (replay + segments) {record_s:.1f} CPU s: {len(rec.seg_pair):,} segments of {len(rec.pair_keys):,} pairs", flush=True)
        row = {"categories": n, "record_cpu_s": record_s, "bytes": sum(scale[:n]), "count_words_s": sum(count_s[:n]), "replay_cpu_s": times, "replay_wall_s": walls,
               "segments": int(len(rec.seg_pair)), "pairs": int(len(rec.pair_keys)), "peak_rss_gb_after_replay": peak_rss_gb()}
        if a.lp:
            t1 = time.process_time()
            alpha, lp = solve_mixture(rec)
            row["lp_s"], row["lp"] = time.process_time() - t1, {k: v for k, v in lp.items() if "slack" not in k}
            row["shares"] = dict(zip((d.name for d in dirs[:n]), alpha.round(4).tolist()))
            row["peak_rss_gb"] = peak_rss_gb()
            print(f"  LP {row['lp_s']:.1f} CPU s {row['lp']} shares {row['shares']}; peak RSS {row['peak_rss_gb_after_replay']:.2f} GB after the replay, "
                  f"{row['peak_rss_gb']:.2f} GB after the LP", flush=True)
        rows.append(row)
    print("CPU seconds (one core):")
    print("| categories | MB total | count words | " + " | ".join(f"replay {m} merges" for m in a.merges) + " | record | LP | peak RSS GB |")
    print("|---" * (3 + len(a.merges) + 3) + "|")
    for r in rows:
        print(f"| {r['categories']} | {r['bytes'] / 1e6:.1f} | {r['count_words_s']:.0f} | "
              + " | ".join(f"{r['replay_cpu_s'].get(m, float('nan')):.0f}" for m in a.merges) + f" | {r['record_cpu_s']:.0f} | {r.get('lp_s', float('nan')):.0f} | {r.get('peak_rss_gb', r['peak_rss_gb_after_replay']):.2f} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
