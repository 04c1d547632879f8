"""Training throughput of the pintsize engine on one GPU: tokens/s, MFU, peak memory, the loss
after a fixed number of steps on real tokens, and a profile of where the step time goes.

    # on a CPU machine: real tokens (the stdlib documentation, Pints tokenizer) -> a .npy file
    python benchmarks/train_throughput.py --make-tokens tokens.npy
    # on the GPU: both shapes, document-masked (FlexAttention) and causal (SDPA) attention
    python benchmarks/train_throughput.py --tokens tokens.npy
    # anywhere, in a minute: tiny shapes, 2 steps
    python benchmarks/train_throughput.py --tokens tokens.npy --smoke --no-compile

Each shape runs the engine's own step (`pintsize.train.trainer.Trainer.train_step`): fp32 master
weights with bf16 autocast, fused AdamW, blocks compiled one graph for all layers, the fused
cross-entropy, gradient clipping and the divergence guard (judged on the device; the host reads
each step's loss while the next one runs, as in `Trainer.fit`). Every
micro-batch is an optimizer step (micro-batch 8 x 2048 for 1.5-Pints-2K, 32 x 2048 for
0.12-Pint), as in the litgpt and transformers anchors of DESIGN.md.
MFU = tokens/s x (6N + 12·L·d·T) / peak, N without the input embedding, peak 989 TFLOP/s on
H100/H200 (`pintsize.train.monitor.peak_flops`).

Needs torch, numpy, pydantic and rich (pintsize's model and engine); prints a table and a final
JSON line; writes results.json and profile-*.txt under $OUT when it is set.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pintsize.model.config import get_config  # noqa: E402
from pintsize.model.info import flops_per_token  # noqa: E402
from pintsize.model.llama import Llama  # noqa: E402
from pintsize.train.config import PretrainConfig  # noqa: E402
from pintsize.train.distributed import DistEnv  # noqa: E402
from pintsize.train.monitor import peak_flops  # noqa: E402
from pintsize.train.objective import LMObjective  # noqa: E402
from pintsize.train.trainer import Trainer  # noqa: E402

SEQ = 2048
SHAPES = {"1.5-pints-2k": 8, "0.12-pint": 32}  # model -> micro-batch
TARGETS = {"1.5-pints-2k": 58_000, "0.12-pint": 650_000}  # tokens/s, DESIGN.md
LITGPT_COMPILED = {"1.5-pints-2k": 53_000, "0.12-pint": 567_000}
BOS, EOS = 1, 2  # the Pints tokenizer's
EAGER_LOSS_ATOL = 0.02

# Kernel names -> what they do, for the profile summary (first match wins).
KERNEL_KINDS = (
    ("attention", re.compile(r"flash|fmha|cudnn|flex|attention|sdpa", re.I)),
    ("matmul", re.compile(r"gemm|cutlass|xmma|nvjet|matmul|_mm_", re.I)),
    ("optimizer", re.compile(r"adam|multi_tensor|foreach", re.I)),
    ("fused elementwise (inductor)", re.compile(r"^triton_", re.I)),
    ("copies and casts", re.compile(r"copy|cast|memcpy|memset|fill", re.I)),
)


# ------------------------------------------------------------------ tokens


def make_tokens(path: Path, max_tokens: int) -> None:
    """The stdlib documentation (pydoc) tokenized with the Pints tokenizer: BOS doc EOS, ..."""
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.pints import pints_backend

    tok = pints_backend()
    docs = [d["text"] for d in pydoc_documents()]
    out, n = [], 0
    for i in range(0, len(docs), 64):
        for enc in tok.encode_batch(docs[i : i + 64]):
            ids = np.array([*enc.ids, EOS], dtype=np.uint16)  # the post-processor adds the BOS
            out.append(ids)
            n += len(ids)
        if n >= max_tokens:
            break
    tokens = np.concatenate(out)[:max_tokens]
    np.save(path, tokens)
    print(f"wrote {path}: {len(tokens):,} tokens from {len(out)} documents")


def batches(tokens: np.ndarray, batch_size: int, seq_len: int):
    """Packed rows of the token stream (stride seq_len), as the TokenLoader lays them out:
    positions restart at every BOS, targets are -100 where the next token opens a document."""
    rows_total = (len(tokens) - 1) // seq_len
    i = 0
    while True:
        idx = [(i + b) % rows_total for b in range(batch_size)]
        i += batch_size
        rows = torch.from_numpy(np.stack([tokens[r * seq_len : r * seq_len + seq_len + 1] for r in idx]).astype(np.int64))
        inputs, targets = rows[:, :-1].contiguous(), rows[:, 1:].clone()
        cols = torch.arange(seq_len).expand_as(inputs)
        starts = (inputs == BOS) | (cols == 0)
        positions = cols - torch.where(starts, cols, torch.zeros_like(cols)).cummax(dim=1).values
        targets[targets == BOS] = -100
        yield {"input_ids": inputs, "targets": targets, "positions": positions}


# ------------------------------------------------------------------ one shape


def kernel_summary(prof, wall_s: float) -> tuple[list[dict], float]:
    """Device time by kind of kernel, and the share of the wall time the device was busy."""
    kinds: dict[str, float] = {}
    total = 0.0
    for evt in prof.key_averages():
        t = getattr(evt, "self_device_time_total", 0.0) or 0.0
        if t <= 0 or evt.device_type != torch.autograd.DeviceType.CUDA:
            continue
        kind = next((k for k, rx in KERNEL_KINDS if rx.search(evt.key)), "other")
        kinds[kind] = kinds.get(kind, 0.0) + t
        total += t
    rows = [{"kind": k, "ms": v / 1e3, "share": v / total} for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])]
    return rows, (total / 1e6) / wall_s if wall_s else 0.0


def run_shape(model_name: str, micro_batch: int, attention: str, tokens: np.ndarray, args, device: torch.device) -> dict:
    cuda = device.type == "cuda"
    cfg = get_config(model_name, **({} if not args.smoke else dict(n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=128, block_size=args.seq)))
    total_steps = args.warmup + args.steps + args.profile_steps
    train_cfg = PretrainConfig(
        seq_len=args.seq,
        micro_batch_size=micro_batch,
        global_batch_tokens=micro_batch * args.seq,
        max_steps=total_steps,
        precision="bf16" if cuda else "fp32",
        compile=args.compile,
        document_mask=attention == "document",
        optimizer=dict(lr=4e-4, min_lr=4e-5, warmup_steps=args.warmup + args.steps // 2),
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Llama(cfg)
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=device)
    data = batches(tokens, micro_batch, args.seq)
    first = next(data)
    eager_loss = first_step_loss_eager(model, first, attention, device)  # before the trainer compiles the blocks
    whole_model = args.compile and args.compile_scope == "model"
    if whole_model:
        train_cfg.compile = False  # no per-block compile: the whole model is compiled below
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, LMObjective(compile=args.compile), train_cfg, env, Path(run_dir), None, None, total_steps)
        if whole_model:
            trainer.model.compile(mode="reduce-overhead" if args.cudagraphs else None)

        t0 = time.perf_counter()
        first_loss = trainer.train_step([first]).loss  # compiles
        for _ in range(args.warmup - 1):
            trainer.train_step([next(data)])
        sync(device)
        compile_s = time.perf_counter() - t0
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        result = run_steps(trainer, data, args.steps, args.sync_every_step)
        sync(device)
        seconds = time.perf_counter() - t0
        prepare_ms = time_prepare(trainer, next(data), device)
        syncs = host_syncs(trainer, next(data), device)
        profile = profile_steps(trainer, data, args, model_name, attention, device)

    tokens_per_s = args.steps * micro_batch * args.seq / seconds
    peak = peak_flops(device)
    fpt = flops_per_token(cfg, args.seq)
    out = {
        "model": model_name if not args.smoke else f"{model_name} (smoke: 2 layers, d 64)",
        "attention": attention + (" (flex)" if trainer.flex else " (sdpa)"),
        "variant": args.variant,
        "micro_batch": micro_batch,
        "seq_len": args.seq,
        "params": cfg.num_params(),
        "tokens_per_s": round(tokens_per_s, 1),
        "mfu": tokens_per_s * fpt / peak if peak else None,
        "step_ms": 1e3 * seconds / args.steps,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "compile_and_warmup_s": round(compile_s, 1),
        "prepare_ms": prepare_ms,
        "host_syncs_in_launch": syncs,
        "loss_first_step": first_loss,
        "loss_first_step_eager": eager_loss,
        # bf16 forward passes agree to ~1e-3 here; a wrong kernel (e.g. a mis-strided attention
        # input) is off by whole units
        "loss_matches_eager": abs(first_loss - eager_loss) < EAGER_LOSS_ATOL,
        f"loss_after_{args.warmup + args.steps}_steps": result.loss,
        "skipped_steps": trainer.skipped_steps,
        "target_tokens_per_s": TARGETS.get(model_name) if not args.smoke else None,
        "litgpt_compiled_tokens_per_s": LITGPT_COMPILED.get(model_name) if not args.smoke else None,
        **profile,
    }
    del trainer, model
    release(device)
    return out


def run_steps(trainer: Trainer, data, n: int, sync_every_step: bool = False):
    """`n` steps as `Trainer.fit` runs them (`Trainer.run_steps`: the host reads step i after
    launching step i+1, so making the next batch overlaps the device's work); returns the last
    step's result. `sync_every_step`: wait for each step before the next (the engine before 2026-11-28)."""
    if sync_every_step:
        return [trainer.train_step([next(data)]) for _ in range(n)][-1]
    return list(trainer.run_steps([next(data)] for _ in range(n)))[-1]


def release(device: torch.device) -> None:
    """Free the last variant's model, optimizer and compiled graphs before the next one."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch._dynamo.reset()


def first_step_loss_eager(model: Llama, batch: dict, attention: str, device: torch.device) -> float:
    """The first batch's loss from the plain model (no compile; SDPA, with a boolean document
    mask when masking): what the compiled first step must reproduce."""
    b = {k: v.to(device) for k, v in batch.items()}
    positions = b["positions"] if attention == "document" else None
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(b["input_ids"], positions)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), b["targets"].flatten(), ignore_index=-100)
    return loss.item()


def time_prepare(trainer: Trainer, batch: dict, device: torch.device, n: int = 10) -> float:
    """Milliseconds to move a batch to the device and build its attention mask."""
    trainer.prepare(batch)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        trainer.prepare(batch)
    sync(device)
    return 1e3 * (time.perf_counter() - t0) / n


def host_syncs(trainer: Trainer, batch: dict, device: torch.device) -> list[str] | None:
    """Where launching one step makes the host wait for the GPU (torch's sync debug mode): []
    when nowhere, so the host runs ahead of the device as intended. None off CUDA."""
    if device.type != "cuda":
        return None
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            pending = trainer.launch_step([batch])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    trainer.finish(pending)
    return [str(w.message).splitlines()[0][:200] for w in caught if "synchroniz" in str(w.message).lower()]


def profile_steps(trainer: Trainer, data, args, model_name: str, attention: str, device: torch.device) -> dict:
    if args.profile_steps == 0:
        return {}
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        run_steps(trainer, data, args.profile_steps, args.sync_every_step)
        sync(device)
        wall = time.perf_counter() - t0
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=30)
    kinds, busy = kernel_summary(prof, wall) if device.type == "cuda" else ([], None)
    if os.environ.get("OUT"):
        name = f"profile-{model_name}-{attention}.txt"
        (Path(os.environ["OUT"]) / name).write_text(f"{args.profile_steps} steps, {wall:.3f} s wall\n\n{table}\n")
    return {"profile_device_busy": busy, "profile_kernels": kinds}


def select_variant(args, device: torch.device) -> str:
    """Apply the speed options under test (global switches, set once per process); returns their label."""
    if args.compile_scope == "model" and "document" in args.attention.split(","):
        raise SystemExit("--compile-scope model runs causal attention only (FlexAttention comes with per-block compile)")
    if args.sdpa != "auto" and device.type == "cuda":
        torch.backends.cuda.enable_flash_sdp(args.sdpa == "flash")
        torch.backends.cuda.enable_cudnn_sdp(args.sdpa == "cudnn")
        torch.backends.cuda.enable_mem_efficient_sdp(args.sdpa == "efficient")
    if args.coordinate_descent:
        torch._inductor.config.coordinate_descent_tuning = True
    parts = [f"sdpa={args.sdpa}", f"compile={args.compile_scope}" + ("+cudagraphs" if args.cudagraphs else "")]
    parts += ["coordinate-descent"] if args.coordinate_descent else []
    return ", ".join(parts + (["sync every step"] if args.sync_every_step else []))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ report


def print_report(results: list[dict], device_name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"pintsize training throughput on {device_name}")
    for col in ("model", "attention", "batch", "tokens/s", "MFU", "vs target", "peak GiB", "loss@N", "first loss (eager)", "busy", "syncs"):
        t.add_column(col, justify="left" if col in ("model", "attention") else "right")
    for r in results:
        loss_key = next(k for k in r if k.startswith("loss_after_"))
        target = r["target_tokens_per_s"]
        t.add_row(
            r["model"],
            r["attention"],
            f"{r['micro_batch']}x{r['seq_len']}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['mfu']:.1%}" if r["mfu"] is not None else "-",
            f"{r['tokens_per_s'] / target:.2f}x" if target else "-",
            f"{r['peak_memory_gib']:.1f}" if r["peak_memory_gib"] is not None else "-",
            f"{r[loss_key]:.4f} ({loss_key.split('_')[2]})",
            f"{r['loss_first_step']:.4f} ({r['loss_first_step_eager']:.4f})" + ("" if r["loss_matches_eager"] else " MISMATCH"),
            f"{r['profile_device_busy']:.0%}" if r.get("profile_device_busy") is not None else "-",
            str(len(r["host_syncs_in_launch"])) if r["host_syncs_in_launch"] is not None else "-",
        )
    console = Console(width=180)  # logs are read after the fact: never wrap the table to 80 columns
    console.print(t)
    for r in results:
        if r.get("profile_kernels"):
            kinds = ", ".join(f"{k['kind']} {k['share']:.0%}" for k in r["profile_kernels"])
            console.print(f"{r['model']} / {r['attention']}: device time by kernel kind: {kinds}", highlight=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=Path, help="a .npy of Pints token ids (made with --make-tokens)")
    p.add_argument("--make-tokens", type=Path, metavar="FILE", help="write real tokens to FILE (.npy) and exit")
    p.add_argument("--max-tokens", type=int, default=3_000_000, help="with --make-tokens: how many")
    p.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES))
    p.add_argument("--attention", default="document,causal",
                   help="document: document-masked (FlexAttention on CUDA); causal: plain causal SDPA")
    p.add_argument("--warmup", type=int, default=3, help="steps before timing (the first compiles)")
    p.add_argument("--steps", type=int, default=15, help="timed steps")
    p.add_argument("--profile-steps", type=int, default=3, help="steps under torch.profiler (0: none)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="eager mode")
    p.add_argument("--smoke", action="store_true", help="tiny models, 2 steps: checks the script runs (CPU is fine)")
    p.add_argument("--sdpa", choices=("auto", "flash", "cudnn", "efficient"), default="auto",
                   help="restrict scaled_dot_product_attention to one backend (CUDA; auto: torch's choice)")
    p.add_argument("--compile-scope", choices=("blocks", "model"), default="blocks",
                   help="blocks: the engine's per-block compile; model: one graph for the whole model (causal only)")
    p.add_argument("--cudagraphs", action="store_true", help="with --compile-scope model: mode reduce-overhead (CUDA graphs)")
    p.add_argument("--sync-every-step", action="store_true",
                   help="wait for every step before launching the next (to measure what the overlap gains)")
    p.add_argument("--coordinate-descent", action="store_true", help="inductor's coordinate-descent tuning of its kernels")
    args = p.parse_args()

    if args.make_tokens:
        make_tokens(args.make_tokens, args.max_tokens)
        return
    if args.tokens is None:
        p.error("--tokens FILE.npy is required (make one with --make-tokens)")
    unknown = set(args.shapes.split(",")) - set(SHAPES) | set(args.attention.split(",")) - {"document", "causal"}
    if unknown:
        p.error(f"unknown shape or attention: {', '.join(sorted(unknown))}")
    tokens = np.load(args.tokens)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.variant = select_variant(args, device)
    args.seq = SEQ
    if args.smoke:
        args.seq, args.warmup, args.steps, args.profile_steps = 128, 1, 2, min(args.profile_steps, 1)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    summary = {"device": device_name, "torch": torch.__version__, "results": [], "failed": []}
    for name in args.shapes.split(","):
        micro_batch = 2 if args.smoke else SHAPES[name]
        for attention in args.attention.split(","):
            print(f"== {name} / {attention} attention, micro-batch {micro_batch} x {args.seq}: building, compiling, "
                  f"{args.warmup} warm-up + {args.steps} timed + {args.profile_steps} profiled steps", flush=True)
            try:
                result = run_shape(name, micro_batch, attention, tokens, args, device)
            except Exception as e:  # one GPU session runs every variant: record a failure, go on
                traceback.print_exc()
                summary["failed"].append({"model": name, "attention": attention, "error": f"{type(e).__name__}: {e}"[:2000]})
                result = None
            if result is None:
                release(device)  # outside the except block, whose traceback still holds the model
                continue
            summary["results"].append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "profile_kernels"}), flush=True)
            if os.environ.get("OUT"):  # after every variant, so a run cut short still reports
                (Path(os.environ["OUT"]) / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_report(summary["results"], device_name)
    for f in summary["failed"]:
        print(f"FAILED {f['model']} / {f['attention']}: {f['error']}")
    print(json.dumps(summary))
    sys.exit(1 if summary["failed"] else 0)


if __name__ == "__main__":
    main()
