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

Needs torch, transformers, safetensors and pydantic (pintsize's model); prints a table and a final
JSON line; writes decode_throughput.json under $OUT when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (CUDA default)")
    p.add_argument("--model", default="0.12-pint", help="a named pintsize config")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=None, help="default: 128 on CPU, 512 on CUDA")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

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
