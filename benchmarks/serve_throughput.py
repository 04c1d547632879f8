"""Serving throughput: N requests at once, decoded together by the server's BatchedDecoder
(continuous batching) against one worker thread per request each decoding alone (what the server
did before batching), greedy, the same prompts and number of new tokens.

    python benchmarks/serve_throughput.py                       # CPU: 0.12-Pint, fp32, 1/2/4/8 requests
    python benchmarks/serve_throughput.py --device cuda         # GPU: bf16
    python benchmarks/serve_throughput.py --model tiny --new-tokens 16 --clients 1,2   # a smoke run

The model has random weights (0.12-Pint shape, the Pints vocabulary). Aggregate tokens/s = all new
tokens / wall time from the first request's start to the last one's end (prefill included). Both
ways must give every request the same tokens (checked). The median of --repeat runs is reported.

Needs torch, transformers (sampling processors), safetensors and pydantic; prints a table and a
final JSON line; writes serve_throughput.json under $OUT when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pintsize.model.config import get_config  # noqa: E402
from pintsize.model.llama import Llama  # noqa: E402
from pintsize.serve.batching import BatchedDecoder  # noqa: E402
from pintsize.serve.generate import generate_tokens  # noqa: E402
from pintsize.serve.sampling import SamplingParams  # noqa: E402

PINTS_VOCAB = 32064


def run_clients(pool: ThreadPoolExecutor, decode, prompts: list[list[int]], params: SamplingParams) -> tuple[float, list[list[int]]]:
    """Every prompt from its own worker thread at once (a pool that lives on, as a server's does);
    (wall seconds, tokens per request)."""
    t0 = time.perf_counter()
    outputs = list(pool.map(lambda ids: list(decode(ids, params)), prompts))
    return time.perf_counter() - t0, outputs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--model", default="0.12-pint", help="a named pintsize config")
    p.add_argument("--clients", default="1,2,4,8", help="comma-separated numbers of requests at once")
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    cfg = get_config(args.model, vocab_size=PINTS_VOCAB)
    torch.manual_seed(0)
    model = Llama(cfg).to(device=device, dtype=dtype).eval()
    params = SamplingParams(max_new_tokens=args.new_tokens)
    counts = [int(c) for c in args.clients.split(",")]
    decoder = BatchedDecoder(model, PINTS_VOCAB, max_batch=max(counts))
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(3, PINTS_VOCAB, (args.prompt_tokens,), generator=g).tolist() for _ in range(max(counts))]

    ways = {
        "thread per request": lambda ids, sp: generate_tokens(model, ids, sp, PINTS_VOCAB),
        "batched (server)": lambda ids, sp: decoder.generate(ids, sp, sp.max_new_tokens),
    }
    pool = ThreadPoolExecutor(max(counts))
    for decode in ways.values():  # warm-up: every worker thread
        run_clients(pool, decode, prompts, SamplingParams(max_new_tokens=4))
    rows = []
    for n in counts:
        row = {"clients": n}
        outputs = {}
        for rep in range(args.repeat):
            for name, decode in ways.items() if rep % 2 == 0 else list(ways.items())[::-1]:  # load drifts
                seconds, outputs[name] = run_clients(pool, decode, prompts[:n], params)
                row.setdefault(name, []).append(n * args.new_tokens / seconds)
        for name in ways:
            row[name] = statistics.median(row[name])
        row["speedup"] = row["batched (server)"] / row["thread per request"]
        row["same_tokens"] = outputs["batched (server)"] == outputs["thread per request"]
        rows.append(row)
    decoder.close()
    pool.shutdown()

    threads = torch.get_num_threads() if device.type == "cpu" else None
    print(f"serving throughput: {args.model} ({cfg.num_params() / 1e6:.1f}M parameters), {device.type} "
          f"{str(dtype).removeprefix('torch.')}, prompt {args.prompt_tokens} + {args.new_tokens} new tokens per request, "
          f"greedy, median of {args.repeat}" + (f", {threads} CPU threads" if threads else ""))
    print(f"{'requests':>9}{'thread per request tok/s':>27}{'batched tok/s':>15}{'speedup':>9}{'same tokens':>13}")
    for r in rows:
        print(f"{r['clients']:>9}{r['thread per request']:>27.1f}{r['batched (server)']:>15.1f}{r['speedup']:>8.2f}x{str(r['same_tokens']):>13}")
    result = {
        "benchmark": "serve_throughput", "model": args.model, "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "dtype": str(dtype).removeprefix("torch."), "torch": torch.__version__, "cpu_threads": threads,
        "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "repeat": args.repeat, "rows": rows,
    }
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "serve_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
