"""Decode throughput: pintsize's KV-cache generation against transformers' `generate` on the
Hugging Face export of the same checkpoint, greedy, same prompt, same number of new tokens.

    python benchmarks/decode_throughput.py                    # CPU: 0.12-Pint, fp32
    python benchmarks/decode_throughput.py --device cuda      # GPU: bf16 by default
    python benchmarks/decode_throughput.py --model tiny --new-tokens 16 --repeat 1   # a smoke run

The model has random weights (0.12-Pint shape, the Pints vocabulary of 32,064 tokens); both sides
run the same weights in the same dtype. Every new token's wall time is recorded as it comes out
(our generator yields each token; transformers reports each one to a streamer), so prefill and
decode are separated: decode tokens/s = (new tokens - 1) / (time of the last token - time of the
first). Both generators hand each token to the host as it is made. The median of --repeat runs
is reported, after one warm-up run of each.

Beside a busy neighbour (`--busy MODEL_DIR`, e.g. SmolLM2 imported by `pintsize import gguf
builtin:smollm2`): the two decoding paths of pintsize on a real model, the single sequence of
`pintsize generate` / `pintsize chat` (`generate_tokens`) and the server's `BatchedDecoder` with
one request, each in a fresh process, with no neighbour and then beside `--neighbours` busy-loop
processes that this script starts (and stops). Each path runs as pintsize runs it (pintsize
imported before torch, so its OpenMP wait policy applies: pintsize/__init__.py) and as it ran
before (torch imported first: libgomp's default spinning); a small training step is timed the
same two ways, to show what the wait policy costs training. Reported: decode ms per token (prefill
excluded) and CPU seconds per token of the whole process, medians over --repeat fresh processes.

    python benchmarks/decode_throughput.py --busy /work/wt/_shared/smollm2 --neighbours 2

Needs torch, transformers, safetensors and pydantic (pintsize's model); prints a table and a final
JSON line; writes decode_throughput.json (decode_busy.json with --busy) under $OUT when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

if "--torch-first" in sys.argv:  # --busy's "before": libgomp starts before pintsize can set its wait policy
    import torch  # noqa: F401

import pintsize  # noqa: E402,F401 - before torch: pintsize's OpenMP wait policy
import torch  # noqa: E402

from pintsize.model.checkpoint import save_model  # noqa: E402
from pintsize.model.config import get_config  # noqa: E402
from pintsize.model.hf import export_hf  # noqa: E402
from pintsize.model.llama import Llama  # noqa: E402
from pintsize.serve.generate import generate_tokens  # noqa: E402
from pintsize.serve.sampling import SamplingParams  # noqa: E402

PINTS_VOCAB = 32064


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ours(model: Llama, prompt: list[int], new_tokens: int, device: torch.device) -> tuple[list[int], list[float]]:
    sync(device)
    t0 = time.perf_counter()
    tokens, stamps = [], []
    for token in generate_tokens(model, prompt, SamplingParams(max_new_tokens=new_tokens), PINTS_VOCAB):
        tokens.append(token)  # already a host int: the step has finished
        stamps.append(time.perf_counter() - t0)
    return tokens, stamps


def time_transformers(hf, prompt: list[int], new_tokens: int, device: torch.device) -> tuple[list[int], list[float]]:
    from transformers.generation.streamers import BaseStreamer

    class Stamps(BaseStreamer):
        def __init__(self):
            self.calls, self.times = 0, []

        def put(self, value):  # first call: the prompt; then one call per new token (on the host)
            self.calls += 1
            if self.calls > 1:
                self.times.append(time.perf_counter() - t0)

        def end(self):
            pass

    streamer = Stamps()
    ids = torch.tensor([prompt], device=device)
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = hf.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
            do_sample=False, eos_token_id=None, pad_token_id=0, streamer=streamer,
        )
    return out[0, len(prompt):].tolist(), streamer.times


def rates(stamps: list[float]) -> dict:
    return {
        "time_to_first_token_s": stamps[0],
        "total_s": stamps[-1],
        "decode_tokens_per_s": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
    }


# ---------------------------------------------------------------- beside a busy neighbour

BUSY_PROMPT = "The three primary colors are"


def busy_child(model_dir: Path, new_tokens: int) -> dict:
    """In a fresh process: ms and CPU s per decoded token on each path, and one training step's time."""
    from pintsize.serve.batching import BatchedDecoder
    from pintsize.serve.generate import Generator

    gen = Generator.load(model_dir, device="cpu")
    ids = gen.encode(BUSY_PROMPT)
    params = SamplingParams(max_new_tokens=new_tokens)

    def decode(batched: bool) -> dict:
        decoder = BatchedDecoder(gen.model, gen.vocab_size, 4) if batched else None
        stamps, cpu = [], []
        t0 = time.perf_counter()
        for _ in gen.stream(ids, params, decoder).tokens:  # the token ids, as they are made
            stamps.append(time.perf_counter() - t0)
            cpu.append(time.process_time())  # every thread of this process
        if decoder is not None:
            decoder.close()
        n = len(stamps) - 1
        return {"ms_per_token": 1000 * (stamps[-1] - stamps[0]) / n, "cpu_s_per_token": (cpu[-1] - cpu[0]) / n}

    decode(False)  # warm-up
    result = {"single": decode(False), "server": decode(True)}
    cfg = get_config("tiny", vocab_size=4096, n_layer=4, d_model=256, n_head=4, n_kv_head=2, d_ff=704, block_size=128)
    torch.manual_seed(0)
    model = Llama(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randint(cfg.vocab_size, (8, 129))
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        logits = model(batch[:, :-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten()).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    result["train_step_s"] = statistics.median(times[1:])
    result["threads"] = torch.get_num_threads()
    return result


def busy(args) -> None:
    """Each variant in fresh processes, with no neighbour and beside `--neighbours` busy loops."""
    variants = {"pintsize": [], "before (libgomp spins)": ["--torch-first"]}
    child = [sys.executable, __file__, "--busy-child", str(args.busy), "--new-tokens", str(args.new_tokens or 16)]
    # without the wait policy this process got from importing pintsize: each child decides its own
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    results: dict = {}
    for neighbours in sorted({0, args.neighbours}):
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(neighbours)]
        try:
            for rep in range(args.repeat):
                for name, flags in variants.items() if rep % 2 == 0 else reversed(variants.items()):
                    run = subprocess.run(child + flags, capture_output=True, text=True, check=True, env=env)
                    results.setdefault((neighbours, name), []).append(json.loads(run.stdout.splitlines()[-1]))
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()

    def median(runs: list[dict], *keys: str) -> float:
        return statistics.median(_get(r, keys) for r in runs)

    rows = []
    print(f"decode beside busy neighbours: {args.busy}, fp32, CPU, {os.cpu_count()} cores, "
          f"{args.new_tokens or 16} new tokens, median of {args.repeat} processes; load average {os.getloadavg()}")
    print(f"{'neighbours':>10}  {'variant':24}{'generate ms/tok':>16}{'CPU s/tok':>10}{'serve ms/tok':>14}{'CPU s/tok':>10}{'train step s':>14}")
    for (neighbours, name), runs in results.items():
        row = {"neighbours": neighbours, "variant": name, "threads": runs[0]["threads"],
               "generate_ms_per_token": median(runs, "single", "ms_per_token"),
               "generate_cpu_s_per_token": median(runs, "single", "cpu_s_per_token"),
               "serve_ms_per_token": median(runs, "server", "ms_per_token"),
               "serve_cpu_s_per_token": median(runs, "server", "cpu_s_per_token"),
               "train_step_s": median(runs, "train_step_s")}
        rows.append(row)
        print(f"{neighbours:>10}  {name:24}{row['generate_ms_per_token']:>16.1f}{row['generate_cpu_s_per_token']:>10.3f}"
              f"{row['serve_ms_per_token']:>14.1f}{row['serve_cpu_s_per_token']:>10.3f}{row['train_step_s']:>14.3f}")
    result = {"benchmark": "decode_busy", "model": str(args.busy), "new_tokens": args.new_tokens or 16,
              "repeat": args.repeat, "cores": os.cpu_count(), "torch": torch.__version__, "rows": rows}
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "decode_busy.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _get(d: dict, keys: tuple[str, ...]) -> float:
    for k in keys:
        d = d[k]
    return d


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (CUDA default)")
    p.add_argument("--model", default="0.12-pint", help="a named pintsize config")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=None, help="default: 128 on CPU, 512 on CUDA")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--busy", type=Path, metavar="MODEL_DIR", help="decode MODEL_DIR beside busy neighbours (see above)")
    p.add_argument("--neighbours", type=int, default=2, help="with --busy: busy-loop processes to start")
    p.add_argument("--busy-child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--torch-first", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.busy_child:
        print(json.dumps(busy_child(args.busy_child, args.new_tokens)))
        return
    if args.busy:
        busy(args)
        return

    from transformers import AutoModelForCausalLM

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    new_tokens = args.new_tokens or (512 if device.type == "cuda" else 128)
    cfg = get_config(args.model, vocab_size=PINTS_VOCAB)
    torch.manual_seed(0)
    model = Llama(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, cfg, Path(tmp) / "ours")
        export_hf(Path(tmp) / "ours", Path(tmp) / "hf")
        hf = AutoModelForCausalLM.from_pretrained(Path(tmp) / "hf", dtype=dtype).to(device).eval()
    ours = model.to(device=device, dtype=dtype).eval()
    prompt = torch.randint(3, PINTS_VOCAB, (args.prompt_tokens,), generator=torch.Generator().manual_seed(1)).tolist()

    time_ours(ours, prompt, 8, device)  # warm-up: kernels, allocator, caches
    time_transformers(hf, prompt, 8, device)
    runs = {"pintsize": [], "transformers": []}
    outputs = {}
    sides = [("pintsize", time_ours, ours), ("transformers", time_transformers, hf)]
    for rep in range(args.repeat):
        for name, fn, m in sides if rep % 2 == 0 else sides[::-1]:  # alternate who goes first: load drifts
            tokens, stamps = fn(m, prompt, new_tokens, device)
            assert len(stamps) == new_tokens, f"{name} made {len(stamps)} tokens, not {new_tokens}"
            runs[name].append(rates(stamps))
            outputs[name] = tokens
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    same = outputs["pintsize"] == outputs["transformers"]
    diverge = next((i for i, (a, b) in enumerate(zip(outputs["pintsize"], outputs["transformers"])) if a != b), None)

    print(f"decode throughput: {args.model} ({cfg.num_params() / 1e6:.1f}M parameters), {device.type} {str(dtype).removeprefix('torch.')}, "
          f"prompt {args.prompt_tokens} + {new_tokens} new tokens, greedy, median of {args.repeat}")
    print(f"{'':14}{'decode tok/s':>14}{'first token s':>15}{'total s':>10}")
    for name, m in med.items():
        print(f"{name:14}{m['decode_tokens_per_s']:>14.1f}{m['time_to_first_token_s']:>15.4f}{m['total_s']:>10.3f}")
    ratio = med["pintsize"]["decode_tokens_per_s"] / med["transformers"]["decode_tokens_per_s"]
    print(f"ratio pintsize / transformers: {ratio:.2f}x; same greedy tokens: {same}" + ("" if same else f" (first difference at token {diverge})"))
    result = {
        "benchmark": "decode_throughput", "model": args.model, "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "dtype": str(dtype).removeprefix("torch."), "torch": torch.__version__, "prompt_tokens": args.prompt_tokens,
        "new_tokens": new_tokens, "repeat": args.repeat, "cpu_threads": torch.get_num_threads(),
        "pintsize": med["pintsize"], "transformers": med["transformers"], "ratio_decode": ratio,
        "same_tokens": same, "first_difference": diverge,
    }
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "decode_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
