"""Peak memory (max RSS) and wall time of `pintsize prune` on a real model (issue 28, item 1).

    python benchmarks/prune_memory.py MODEL_DIR [--calib-tokens 4096 65536] [--target 67M] [--threads 1]

Each size runs `pintsize prune MODEL_DIR OUT --target T --calibration CALIB --calib-tokens N` in its
own process under `/usr/bin/time -v` (peak resident set of that process). The calibration text is the
Python standard library's documentation, rendered by pydoc (the domain of recipes/distill-smollm2.toml),
written once to a temporary file. Activation importance is forward-only: memory should stay near the
model's own size whatever the number of calibration tokens (a kept autograd graph grows with it).

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import pydoc
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def stdlib_docs(chars: int) -> str:
    """pydoc's plain-text pages of stdlib modules, in name order, until `chars` characters."""
    parts, n = [], 0
    for mod in sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_")):
        if n >= chars:
            break
        if mod not in sys.stdlib_module_names or mod in {"antigravity", "this", "idlelib", "tkinter", "turtle"}:
            continue
        try:
            text = pydoc.plain(pydoc.render_doc(mod, renderer=pydoc.plaintext))
        except Exception:  # noqa: BLE001 - a module that does not import on this box is skipped
            continue
        parts.append(text)
        n += len(text)
    return "\n\n".join(parts)


def measure(model: Path, target: str, calib: Path, tokens: int, threads: int, out: Path) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "pintsize", "prune", str(model), str(out),
           "--target", target, "--calibration", str(calib), "--calib-tokens", str(tokens)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        raise SystemExit(f"pintsize prune failed (rc {r.returncode}):\n{r.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", r.stderr).group(1)
    seconds = sum(float(x) * 60**i for i, x in enumerate(reversed(wall.split(":"))))
    return {"calib_tokens": tokens, "peak_rss_gb": round(rss_kb / 2**20, 2), "wall_s": round(seconds, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--calib-tokens", type=int, nargs="+", default=[4096, 65536])
    p.add_argument("--target", default="67M")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prune-memory-"))
    calib = work / "calib.txt"
    calib.write_text(stdlib_docs(8 * max(args.calib_tokens)), encoding="utf-8")  # > 4 chars per token
    rows = []
    for n in args.calib_tokens:
        rows.append(measure(args.model, args.target, calib, n, args.threads, work / f"pruned-{n}"))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\npintsize prune {args.model} --target {args.target} ({args.threads} thread(s))")
    print(f"{'calibration tokens':>18} {'peak RSS (GB)':>14} {'wall (s)':>9}")
    for r in rows:
        print(f"{r['calib_tokens']:>18,} {r['peak_rss_gb']:>14.2f} {r['wall_s']:>9.1f}")
    print(json.dumps({"model": str(args.model), "target": args.target, "threads": args.threads, "rows": rows}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
