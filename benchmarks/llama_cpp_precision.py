"""How far llama.cpp's logprobs are from pintsize's on a model, by GGUF dtype and llama.cpp setting.

    python benchmarks/llama_cpp_precision.py /work/wt/_shared/smollm2 runs/pruned-67m

For each model: the GGUF export in F32 and F16, run by llama.cpp (xllamacpp) greedily for 24 tokens
after three prompts, with its KV cache in F16 (its default) or F32 and flash attention on (auto, its
default on CPU) or off. The figure is the largest |llama.cpp logprob - pintsize logprob| over the
tokens both choose (the comparison of a prompt ends where the greedy tokens part). A last column
rounds attention's q, k and v to F16 inside pintsize itself (what an F16 KV cache does), to see how
sensitive the model is to that rounding, llama.cpp aside. One thread; prints a table and a JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pintsize.model.llama as llama  # noqa: E402
from pintsize.model.gguf import export_gguf  # noqa: E402
from pintsize.serve.generate import Generator  # noqa: E402
from pintsize.serve.sampling import SamplingParams  # noqa: E402

PROMPTS = ["The three primary colors are", "To copy a directory tree in Python,", "The json module"]
NEW_TOKENS = 24
SETTINGS = [("f16", True), ("f32", True), ("f16", False), ("f32", False)]  # (KV cache, flash attention)


def our_logprobs(gen: Generator, prompt: list[int], tokens: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits = gen.model(torch.tensor([prompt + tokens]))[0, len(prompt) - 1 : -1, : gen.vocab_size].float()
    return logits.log_softmax(-1)


def llama_cpp_gap(gen: Generator, gguf_file: Path, cache: str, flash: bool) -> float:
    import xllamacpp as x

    p = x.CommonParams()
    p.model.path, p.n_ctx, p.n_parallel, p.warmup = str(gguf_file), 256, 1, False
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
    p.cache_type_k = p.cache_type_v = x.ggml_type.GGML_TYPE_F32 if cache == "f32" else x.ggml_type.GGML_TYPE_F16
    fa = x.llama_flash_attn_type
    p.flash_attn_type = fa.LLAMA_FLASH_ATTN_TYPE_AUTO if flash else fa.LLAMA_FLASH_ATTN_TYPE_DISABLED
    server, worst = x.Server(p), 0.0
    for text in PROMPTS:
        prompt = gen.encode(text)
        done = server.handle_completions({"prompt": prompt, "n_predict": NEW_TOKENS, "temperature": 0, "n_probs": 1,
                                          "cache_prompt": False})
        content = done["choices"][0]["logprobs"]["content"]
        ours = our_logprobs(gen, prompt, [c["id"] for c in content])
        for i, c in enumerate(content):
            if c["id"] != int(ours[i].argmax()):
                break
            worst = max(worst, abs(c["logprob"] - float(ours[i, c["id"]])))
    return worst


def fp16_attention_shift(gen: Generator) -> float:
    exact = llama.attend

    def rounded(q, k, v, mask, causal):
        return exact(q.half().float(), k.half().float(), v.half().float(), mask, causal)

    worst = 0.0
    for text in PROMPTS:
        prompt = gen.encode(text)
        tokens = gen.complete(prompt, SamplingParams(max_new_tokens=NEW_TOKENS)).token_ids
        idx = torch.tensor(tokens)[:, None]
        a = our_logprobs(gen, prompt, tokens).gather(1, idx)
        llama.attend = rounded
        try:
            b = our_logprobs(gen, prompt, tokens).gather(1, idx)
        finally:
            llama.attend = exact
        worst = max(worst, float((a - b).abs().max()))
    return worst


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model_dir in map(Path, sys.argv[1:]):
            gen = Generator.load(model_dir, device="cpu")
            c = gen.model.config
            row = {"model": str(model_dir), "d_model": c.d_model, "n_head": c.n_head, "head_dim": c.head_dim,
                   "fp16_attention_inputs_in_pintsize": round(fp16_attention_shift(gen), 6)}
            for dtype in ("float32", "float16"):
                gguf_file = export_gguf(model_dir, Path(tmp) / f"m-{dtype}.gguf", dtype=dtype)
                for cache, flash in SETTINGS:
                    row[f"{dtype}/kv-{cache}/fa-{'auto' if flash else 'off'}"] = round(llama_cpp_gap(gen, gguf_file, cache, flash), 6)
            rows.append(row)
    keys = [k for k in rows[0] if "/" in k] + ["fp16_attention_inputs_in_pintsize"]
    print("largest |llama.cpp logprob - pintsize logprob| on greedy tokens (GGUF dtype / KV cache / flash attention)")
    for row in rows:
        print(f"\n{row['model']}: d_model {row['d_model']}, {row['n_head']} heads x {row['head_dim']}")
        for k in keys:
            print(f"  {k:36}{row[k]:>10.2e}")
    print(json.dumps({"benchmark": "llama_cpp_precision", "rows": rows}))


if __name__ == "__main__":
    main()
