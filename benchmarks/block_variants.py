"""Candidate rewrites of the kernels the H200 profiles single out (benchmarks/RESULTS.md): one
decoder block's forward and backward at the real shapes, compiled as the engine compiles it, for
each variant, with its output and gradients checked against the model's own block; and the
optimizer step with clipping done two ways.

    python benchmarks/block_variants.py            # on the GPU: both shapes, every variant (~3 min)
    python benchmarks/block_variants.py --smoke    # anywhere: tiny shapes, the checks

Block variants (none is in the model; this measures which are worth taking):
  model                 the block as pintsize.model.llama defines it
  rope-first            rotary applied in the projection's [B, T, heads, hd] layout, then transposed
                        (its backward then reads and writes contiguous rows)
  rope-halves           rotary as two half-width products (no rotate-half cat over the input)
  swiglu-interleaved    gate and up rows interleaved in the fused weight: the two gradients of a
                        unit are neighbours in memory, read and written in one pass
  concat-kernel         inductor realizes every cat in place instead of as a masked-load pointwise
                        kernel (the SwiGLU backward's cat re-reads its inputs once per half)
  rope-halves+concat-kernel
Optimizer: `clip_grad_norm_` then fused AdamW (the engine before 2026-11-29) vs the norm alone and
the clip factor handed to the fused AdamW as its `grad_scale`, one pass fewer over the gradients
(the engine since; measured on a CPU, 0.12-Pint: 356 vs 225 ms a step).

Needs torch, numpy and pydantic; prints a table and a final JSON line; writes
block-variants.json under $OUT when it is set.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pintsize.model import llama  # noqa: E402
from pintsize.model.config import get_config  # noqa: E402

SEQ = 2048
SHAPES = {"1.5-pints-2k": 8, "0.12-pint": 32}  # model -> micro-batch, as in train_throughput.py
CONCAT_IN_PLACE = {"max_pointwise_cat_inputs": 1, "max_complex_pointwise_cat_inputs": 1}
VARIANTS = ("model", "rope-first", "rope-halves", "swiglu-interleaved", "concat-kernel", "rope-halves+concat-kernel")


# ------------------------------------------------------------------ the rewrites


def rotary_halves(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """= llama.apply_rotary: cos and sin repeat over the two halves, so each half is one product pair."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[..., :half].to(x.dtype), sin[..., :half].to(x.dtype)
    return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)


def attention_rope_first(self, x, cos, sin, mask=None, kv_cache=None):
    """llama.Attention.forward (training path) with the rotary applied before the transpose."""
    B, T, _ = x.shape
    hd = self.config.head_dim
    q, k, v = self.qkv(x).split((self.q_size, self.kv_size, self.kv_size), dim=-1)
    cos, sin = cos.transpose(1, 2), sin.transpose(1, 2)  # [B, T, 1, hd]
    q = llama.apply_rotary(q.view(B, T, self.config.n_head, hd), cos, sin).transpose(1, 2)
    k = llama.apply_rotary(k.view(B, T, self.config.n_kv_head, hd), cos, sin).transpose(1, 2)
    v = v.view(B, T, self.config.n_kv_head, hd).transpose(1, 2)
    y = llama.attend(q, k, v, mask, causal=T > 1)
    return self.proj(y.transpose(1, 2).reshape(B, T, self.q_size))


def swiglu_interleaved(self, x):
    gate_up = self.gate_up(x).unflatten(-1, (self.d_ff, 2))  # rows 2j, 2j+1 = gate j, up j
    return self.down(F.silu(gate_up[..., 0]) * gate_up[..., 1])


def interleave_rows(d_ff: int) -> torch.Tensor:
    """Row order of the interleaved gate_up weight, from the model's [gate; up] order."""
    return torch.stack((torch.arange(d_ff), torch.arange(d_ff) + d_ff), dim=1).flatten()


@contextlib.contextmanager
def patched(variant: str):
    saved = (llama.apply_rotary, llama.Attention.forward, llama.SwiGLU.forward)
    if "rope-halves" in variant:
        llama.apply_rotary = rotary_halves
    if "rope-first" in variant:
        llama.Attention.forward = attention_rope_first
    if "swiglu-interleaved" in variant:
        llama.SwiGLU.forward = swiglu_interleaved
    try:
        yield
    finally:
        llama.apply_rotary, llama.Attention.forward, llama.SwiGLU.forward = saved


# ------------------------------------------------------------------ one block


def make_inputs(cfg, batch: int, seq: int, device, seed: int = 0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(batch, seq, cfg.d_model, generator=g).to(device)  # the fp32 residual stream
    grad = torch.randn(batch, seq, cfg.d_model, generator=g).to(device)
    positions = torch.arange(seq, device=device).expand(batch, seq)
    cos, sin = llama.rotary_cos_sin(cfg, positions)
    return x, grad, cos, sin


def block_for(variant: str, reference: llama.Block, cfg) -> llama.Block:
    block = llama.Block(cfg, 0).to(next(reference.parameters()).device)
    block.load_state_dict(reference.state_dict())
    if "swiglu-interleaved" in variant:
        with torch.no_grad():
            block.mlp.gate_up.weight.copy_(reference.mlp.gate_up.weight[interleave_rows(cfg.d_ff)])
    return block


def forward_backward(block, x, grad, cos, sin, autocast: bool):
    x = x.detach().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        out = block(x, cos, sin)
    out.backward(grad)
    return out, x.grad


def gradients(block, variant: str, cfg) -> dict[str, torch.Tensor]:
    grads = {n: p.grad for n, p in block.named_parameters()}
    if "swiglu-interleaved" in variant:  # back to the model's row order
        inverse = torch.argsort(interleave_rows(cfg.d_ff)).to(grads["mlp.gate_up.weight"].device)
        grads["mlp.gate_up.weight"] = grads["mlp.gate_up.weight"][inverse]
    return grads


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30)).item()


def run_variant(variant, reference, cfg, inputs, expected, args, device) -> dict:
    torch._dynamo.reset()
    cuda = device.type == "cuda"
    with patched(variant):
        block = block_for(variant, reference, cfg)
        if args.compile:
            import torch._inductor.config as inductor_config

            # (the second knob is newer than some torch versions: set what this one has)
            options = {k: v for k, v in CONCAT_IN_PLACE.items() if hasattr(inductor_config, k)}
            block.compile(fullgraph=True, options=options if "concat-kernel" in variant else None)
        t0 = time.perf_counter()
        out, x_grad = forward_backward(block, *inputs, autocast=cuda)
        compile_s = time.perf_counter() - t0
        errors = {"out": rel_err(out, expected["out"]), "x.grad": rel_err(x_grad, expected["x.grad"])}
        for name, g in gradients(block, variant, cfg).items():
            errors[name] = rel_err(g, expected[name])
        ms = None
        if cuda:
            for _ in range(args.warmup):
                block.zero_grad(set_to_none=True)
                forward_backward(block, *inputs, autocast=True)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(args.iters):
                block.zero_grad(set_to_none=True)
                forward_backward(block, *inputs, autocast=True)
            end.record()
            torch.cuda.synchronize()
            ms = start.elapsed_time(end) / args.iters
    worst = max(errors.values())
    return {"variant": variant, "block_ms": ms, "compile_s": round(compile_s, 1), "max_rel_err": worst,
            "matches": worst < args.tolerance, "errors": errors}


def run_shape(model_name: str, batch: int, args, device) -> list[dict]:
    cfg = get_config(model_name, **(dict(n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=128, block_size=args.seq) if args.smoke else {}))
    torch.manual_seed(0)
    reference = llama.Block(cfg, 0).to(device)
    inputs = make_inputs(cfg, batch, args.seq, device)
    # What every variant must reproduce: the model's block, compiled when the variants are.
    torch._dynamo.reset()
    ref_block = block_for("model", reference, cfg)
    if args.compile:
        ref_block.compile(fullgraph=True)
    out, x_grad = forward_backward(ref_block, *inputs, autocast=device.type == "cuda")
    expected = {"out": out.detach(), "x.grad": x_grad, **gradients(ref_block, "model", cfg)}
    rows = []
    for variant in args.variants:
        try:
            row = run_variant(variant, reference, cfg, inputs, expected, args, device)
        except Exception as e:  # noqa: BLE001 - one GPU call measures every variant: record, go on
            traceback.print_exc()
            row = {"variant": variant, "failed": f"{type(e).__name__}: {str(e)[:200]}"}
        row.update(model=model_name, batch=batch, n_layer=get_config(model_name).n_layer)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "errors"}), flush=True)
    baseline = next((r.get("block_ms") for r in rows if r["variant"] == "model"), None)
    for r in rows:
        if baseline and r.get("block_ms"):
            r["step_ms_saved"] = (baseline - r["block_ms"]) * r["n_layer"]  # every layer runs the block
    return rows


# ------------------------------------------------------------------ the optimizer step


def optimizer_step(model_name: str, args, device) -> dict:
    """Fused AdamW over the model's parameters (fp32): clipping as its own pass vs as grad_scale."""
    cfg = get_config(model_name, **(dict(n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=128) if args.smoke else {}))
    with torch.device("meta"):
        shapes = [p.shape for p in llama.Llama(cfg).parameters()]
    g = torch.Generator(device="cpu").manual_seed(0)
    grads = [torch.randn(s, generator=g).to(device) for s in shapes] if args.smoke else [torch.randn(s, device=device) for s in shapes]
    results, finals = {}, {}
    for how in ("clip then step", "grad_scale"):
        torch.manual_seed(1)
        params = [torch.nn.Parameter(torch.randn(s, device=device) * 0.02) for s in shapes]
        opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=True)

        def step():
            for p, gr in zip(params, grads):
                p.grad = gr.clone()  # not timed apart: the same in both
            if how == "clip then step":
                torch.nn.utils.clip_grad_norm_(params, args.max_norm, foreach=True)
            else:
                norm = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
                opt.grad_scale = torch.clamp((norm + 1e-6) / args.max_norm, min=1.0).reshape(1)
            opt.step()

        for _ in range(2):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        n = 3 if args.smoke else 10
        for _ in range(n):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        results[how] = 1e3 * (time.perf_counter() - t0) / n
        finals[how] = torch.cat([p.detach().flatten() for p in params])
    return {"model": model_name, "clip_then_step_ms": results["clip then step"], "grad_scale_ms": results["grad_scale"],
            "params_rel_err": rel_err(finals["grad_scale"], finals["clip then step"]),
            "note": "times include copying the gradients in (the same for both)"}


# ------------------------------------------------------------------ main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--max-norm", type=float, default=1.0)
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--smoke", action="store_true", help="tiny shapes (CPU is fine): the checks only")
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.seq = 64 if args.smoke else SEQ
    args.variants = args.variants.split(",")
    # fp32 on CPU: rewrites must agree to rounding; bf16 autocast on GPU: to bf16's precision.
    args.tolerance = 1e-5 if device.type == "cpu" else 3e-2
    rows, optim = [], []
    for name in args.shapes.split(","):
        rows += run_shape(name, 2 if args.smoke else SHAPES[name], args, device)
        optim.append(optimizer_step(name, args, device))
        print(json.dumps(optim[-1]), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    print(f"\n{'model':14s} {'variant':28s} {'block ms':>9s} {'step ms saved':>14s} {'max rel err':>12s}")
    for r in rows:
        if "failed" in r:
            print(f"{r['model']:14s} {r['variant']:28s} failed: {r['failed'][:60]}")
            continue
        ms = f"{r['block_ms']:.3f}" if r["block_ms"] else "-"
        saved = f"{r['step_ms_saved']:+.1f}" if r.get("step_ms_saved") is not None else "-"
        print(f"{r['model']:14s} {r['variant']:28s} {ms:>9s} {saved:>14s} {r['max_rel_err']:>12.2e}{'' if r['matches'] else '  MISMATCH'}")
    for o in optim:
        print(f"{o['model']:14s} optimizer: clip then step {o['clip_then_step_ms']:.2f} ms, grad_scale {o['grad_scale_ms']:.2f} ms, "
              f"params rel err {o['params_rel_err']:.1e}")
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "blocks": rows, "optimizer": optim}
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "block-variants.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({"block_variants": [{k: r.get(k) for k in ("model", "variant", "block_ms", "step_ms_saved", "matches")} for r in rows],
                      "optimizer": optim}))


if __name__ == "__main__":
    main()
