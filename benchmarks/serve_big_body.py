"""An oversized request against `pintsize serve` (issue 19, item 12): how long a 20 MB prompt takes
to be refused, how long a 2-token request sent meanwhile waits, and how much the server's memory
grows; with the default 1 MiB body limit, and with the limit out of the way (the old behaviour).
And (issue 29) prompts that fit the body limit but not the model: N at once, each just under
1 MiB, and how long the 2-token request sent meanwhile waits.

    python benchmarks/serve_big_body.py                 # 20 MB, both limits; 6 near-limit prompts
    python benchmarks/serve_big_body.py --mb 5          # a smaller body
    python benchmarks/serve_big_body.py --only-near-limit --near-limit 6

The server is the real uvicorn app on loopback, in this process, serving a tiny random model with
the Pints tokenizer. Memory is this process's peak RSS (ru_maxrss) before and after. Prints a
table and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pintsize.model.checkpoint import save_model  # noqa: E402
from pintsize.model.config import ModelConfig  # noqa: E402
from pintsize.model.llama import Llama  # noqa: E402
from pintsize.serve.generate import Generator  # noqa: E402
from pintsize.serve.server import ServerSettings, create_app  # noqa: E402
from pintsize.tokenizer import TokenizerInfo, build_pints_tokenizer  # noqa: E402


def tiny_model(root: Path) -> Path:
    tok = build_pints_tokenizer(root / "tok")
    cfg = ModelConfig(name="tiny", vocab_size=TokenizerInfo.read(tok).vocab_size, n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=160, block_size=256)
    torch.manual_seed(0)
    return save_model(Llama(cfg), cfg, root / "model", tokenizer_dir=tok)


def serve(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(gen: Generator, limit: int, mb: int) -> dict:
    server, thread, base = serve(create_app(gen, ServerSettings(model_name="tiny", max_tokens=8, max_request_bytes=limit)))
    big = json.dumps({"model": "tiny", "prompt": "word " * (mb * 200_000), "max_tokens": 2}).encode()
    small = {"model": "tiny", "prompt": "The json module", "max_tokens": 2, "temperature": 0}
    rss0 = maxrss_mb()

    def send_big():
        t0 = time.perf_counter()
        r = httpx.post(f"{base}/v1/completions", content=big, headers={"content-type": "application/json"}, timeout=300)
        return r.status_code, time.perf_counter() - t0

    def send_small():
        time.sleep(0.2)  # while the big one is in flight
        t0 = time.perf_counter()
        r = httpx.post(f"{base}/v1/completions", json=small, timeout=300)
        return r.status_code, time.perf_counter() - t0

    with ThreadPoolExecutor(2) as pool:
        big_f, small_f = pool.submit(send_big), pool.submit(send_small)
        (big_status, big_s), (small_status, small_s) = big_f.result(), small_f.result()
    server.should_exit = True
    thread.join(timeout=30)
    return {
        "limit_bytes": limit, "body_bytes": len(big), "big_status": big_status, "big_seconds": round(big_s, 3),
        "small_status": small_status, "small_seconds": round(small_s, 3), "peak_rss_growth_mb": round(maxrss_mb() - rss0, 1),
    }


def measure_near_limit(gen: Generator, n: int) -> dict:
    """`n` prompts at once, each in a body just under the default 1 MiB limit (so not refused for
    its size), while a 2-token request is sent 0.2 s after them."""
    limit = 1 << 20
    server, thread, base = serve(create_app(gen, ServerSettings(model_name="tiny", max_tokens=8, max_request_bytes=limit)))
    shell = len(json.dumps({"model": "tiny", "prompt": "", "max_tokens": 2}))
    body = json.dumps({"model": "tiny", "prompt": ("word " * (limit // 5))[: limit - shell - 64], "max_tokens": 2}).encode()
    assert len(body) < limit
    small = {"model": "tiny", "prompt": "The json module", "max_tokens": 2, "temperature": 0}

    def send(content: bytes | None, delay: float = 0.0):
        time.sleep(delay)
        t0 = time.perf_counter()
        if content is None:
            r = httpx.post(f"{base}/v1/completions", json=small, timeout=600)
        else:
            r = httpx.post(f"{base}/v1/completions", content=content, headers={"content-type": "application/json"}, timeout=600)
        return r.status_code, time.perf_counter() - t0

    with ThreadPoolExecutor(n + 1) as pool:
        bigs = [pool.submit(send, body) for _ in range(n)]
        small_f = pool.submit(send, None, 0.2)
        (small_status, small_s), big = small_f.result(), [f.result() for f in bigs]
    server.should_exit = True
    thread.join(timeout=30)
    return {
        "concurrent": n, "body_bytes": len(body), "big_statuses": sorted({s for s, _ in big}),
        "big_seconds_max": round(max(t for _, t in big), 3), "small_status": small_status, "small_seconds": round(small_s, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=int, default=20, help="size of the oversized prompt, in MB")
    p.add_argument("--near-limit", type=int, default=6, help="prompts just under the body limit sent at once")
    p.add_argument("--only-near-limit", action="store_true", help="skip the oversized-body rows")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        gen = Generator.load(tiny_model(Path(d)), device="cpu")
        # the limit first: the unlimited run's memory would hide its growth in the peak
        rows = [] if args.only_near_limit else [measure(gen, 1 << 20, args.mb), measure(gen, 1 << 40, args.mb)]
        near = measure_near_limit(gen, args.near_limit)
    if rows:
        print("| limit | body | big answer | big s | 2-token answer | 2-token s | peak RSS growth |\n|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['limit_bytes']:,} | {r['body_bytes'] / 1e6:.1f} MB | {r['big_status']} | {r['big_seconds']} | {r['small_status']} | {r['small_seconds']} | {r['peak_rss_growth_mb']} MB |")
    print("\n| near-limit prompts at once | body | their answers | slowest s | 2-token answer | 2-token s |\n|---|---|---|---|---|---|")
    print(f"| {near['concurrent']} | {near['body_bytes']:,} B | {near['big_statuses']} | {near['big_seconds_max']} | {near['small_status']} | {near['small_seconds']} |")
    print(json.dumps({"bench": "serve_big_body", "rows": rows, "near_limit": near}))


if __name__ == "__main__":
    main()
