"""Correctness checks that need a GPU (run on the H200 before the throughput benchmarks).

1. FlexAttention with the document BlockMask gives the same logits and gradients as SDPA with the
   boolean document mask (the CPU path), in fp32 and under bf16 autocast.
2. The compiled model gives the same loss as the eager one.
3. Packed documents give the same logits as the documents run alone (document masking on CUDA).
4. A step the divergence guard rejects (a NaN loss) leaves every weight as it was (the fused
   AdamW skips it on the device, `found_inf`), and the step after it trains.
5. Clipping inside the fused AdamW (the clip factor as its `grad_scale`) gives the weights of
   `clip_grad_norm_` followed by an AdamW step.

Prints a table and a final JSON line; exits non-zero when a check fails.

    python benchmarks/gpu_checks.py            # on a CUDA machine
    python benchmarks/gpu_checks.py --device cpu --skip-flex   # the parts that run on CPU
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F

from pintsize.model.config import get_config
from pintsize.model.llama import Llama
from pintsize.model.masks import document_causal_mask, flex_document_mask


def packed_batch(vocab: int, batch: int, seq: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    positions = torch.empty(batch, seq, dtype=torch.long)
    for b in range(batch):  # random document lengths, restarting positions
        t = 0
        while t < seq:
            n = int(torch.randint(16, seq // 2, (1,), generator=g))
            positions[b, t : t + n] = torch.arange(min(n, seq - t))
            t += n
    return ids.to(device), positions.to(device)


def loss_and_grads(model, ids, positions, mask, dtype):
    model.zero_grad(set_to_none=True)
    with torch.autocast(ids.device.type, dtype=dtype, enabled=dtype != torch.float32):
        logits = model(ids, positions=positions, attn_mask=mask)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())
    loss.backward()
    grads = torch.cat([p.grad.flatten().float() for p in model.parameters()])
    return logits.float().detach(), loss.detach(), grads


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def guard_skip_check(device: torch.device) -> tuple[str, float, float, bool]:
    """(check, largest weight change over the rejected step, tolerance, ok)."""
    import tempfile
    from pathlib import Path

    from pintsize.train.config import PretrainConfig
    from pintsize.train.distributed import DistEnv
    from pintsize.train.objective import LMObjective
    from pintsize.train.trainer import Trainer

    class NaNAtStep2(LMObjective):
        calls = 0

        def __call__(self, model, batch):
            loss, metrics = super().__call__(model, batch)
            self.calls += 1
            return (loss * float("nan") if self.calls == 2 else loss), metrics

    cfg = get_config("tiny", vocab_size=1000, n_layer=2, block_size=128)
    torch.manual_seed(0)
    model = Llama(cfg).to(device)
    train = PretrainConfig(seq_len=128, micro_batch_size=2, global_batch_tokens=256, max_steps=3,
                           precision="bf16" if device.type == "cuda" else "fp32", compile=False)
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=device)
    weights, reasons = [], []
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, NaNAtStep2(), train, env, Path(run_dir), None, None, 3)
        weights.append(torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()]))
        for seed in range(3):
            ids, positions = packed_batch(cfg.vocab_size, 2, 129, "cpu", seed)
            targets = ids[:, 1:].clone()
            targets[positions[:, 1:] == 0] = -100
            batch = {"input_ids": ids[:, :-1], "targets": targets, "positions": positions[:, :-1]}
            pending = trainer.launch_step([batch])
            weights.append(torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()]))
            reasons.append(trainer.finish(pending).skipped)
        steps = {int(s["step"]) for s in trainer.optimizer.state.values()}
    change = float((weights[2] - weights[1]).abs().max())
    ok = reasons == ["", "loss is nan", ""] and change == 0 and not torch.equal(weights[3], weights[2]) and steps == {2}
    return ("guard-rejected step leaves the weights (fused AdamW)", change, 0.0, ok)


def clipping_check(device: torch.device) -> tuple[str, float, float, bool]:
    """(check, relative error of the weights after one clipped step, tolerance, ok)."""
    import copy
    import tempfile
    from pathlib import Path

    from pintsize.train.config import PretrainConfig
    from pintsize.train.distributed import DistEnv
    from pintsize.train.objective import LMObjective
    from pintsize.train.optim import param_groups
    from pintsize.train.schedule import lr_at
    from pintsize.train.trainer import Trainer

    cfg = get_config("tiny", vocab_size=1000, n_layer=2, block_size=128)
    torch.manual_seed(0)
    model = Llama(cfg).to(device)
    opt = dict(lr=1e-2, min_lr=1e-3, warmup_steps=0, weight_decay=0.0, eps=1.0, grad_clip=0.05)  # eps 1: the step depends on scale
    train = PretrainConfig(seq_len=128, micro_batch_size=2, global_batch_tokens=256, max_steps=2, precision="fp32",
                           compile=False, optimizer=opt)
    ids, positions = packed_batch(cfg.vocab_size, 2, 129, "cpu", 0)
    targets = ids[:, 1:].clone()
    targets[positions[:, 1:] == 0] = -100
    batch = {"input_ids": ids[:, :-1], "targets": targets, "positions": positions[:, :-1]}
    start = copy.deepcopy(model)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model, LMObjective(), train, DistEnv(0, 1, 0, device), Path(run_dir), None, None, 2)
        trainer.train_step([batch])
        prepared = trainer.prepare(batch)
    reference = start
    loss, _ = LMObjective()(reference, prepared)
    (loss / (targets != -100).sum()).backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), opt["grad_clip"])
    adam = torch.optim.AdamW(param_groups(reference, train.optimizer), lr=lr_at(1, 2, train.optimizer), eps=1.0,
                             betas=train.optimizer.betas, weight_decay=0.0)
    adam.step()
    ours = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    theirs = torch.cat([p.detach().flatten() for p in reference.parameters()])
    err = rel(ours, theirs)
    return ("fused AdamW clipping == clip_grad_norm_ + step", err, 1e-5, err < 1e-5)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--skip-flex", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    cfg = get_config("tiny", vocab_size=1000, n_layer=2, block_size=512)
    torch.manual_seed(0)
    model = Llama(cfg).to(device)
    ids, positions = packed_batch(cfg.vocab_size, 4, 512, device)
    rows = []

    sdpa_mask = document_causal_mask(positions)
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 3e-2)):
        ref = loss_and_grads(model, ids, positions, sdpa_mask, dtype)
        if not args.skip_flex:
            flex = torch.compile(lambda i, p, m: model(i, positions=p, attn_mask=m))
            block_mask = flex_document_mask(positions)
            model.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                logits = flex(ids, positions, block_mask)
                loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())
            loss.backward()
            grads = torch.cat([p.grad.flatten().float() for p in model.parameters()])
            name = f"flex vs sdpa document mask ({str(dtype).removeprefix('torch.')})"
            err = max(rel(logits.float().detach(), ref[0]), rel(grads, ref[2]))
            rows.append((name, err, tol, err < tol))

    # compiled vs eager loss on the same batch (fp32)
    compiled = torch.compile(model)
    with torch.no_grad():
        eager_logits = model(ids, positions=positions)
        comp_logits = compiled(ids, positions=positions)
    err = rel(comp_logits, eager_logits)
    rows.append(("compiled vs eager logits (fp32)", err, 1e-4, err < 1e-4))

    # packed = separate, on this device
    with torch.no_grad():
        a, b = ids[:1, :100], ids[:1, 100:180]
        pos = torch.cat([torch.arange(100), torch.arange(80)]).to(device)[None]
        together = model(torch.cat([a, b], 1), positions=pos)
        err = max(rel(together[:, :100], model(a)), rel(together[:, 100:], model(b)))
    rows.append(("packed == separate documents (fp32)", err, 1e-4, err < 1e-4))
    rows.append(guard_skip_check(device))
    rows.append(clipping_check(device))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"\nGPU correctness checks on {name} (torch {torch.__version__})")
    print(f"{'check':52s} {'error':>11s} {'tolerance':>10s}  result")
    for check, err, tol, ok in rows:
        print(f"{check:52s} {err:11.2e} {tol:10.0e}  {'ok' if ok else 'FAIL'}")
    print(json.dumps({"device": name, "checks": [{"check": c, "rel_error": e, "tol": t, "ok": o} for c, e, t, o in rows]}))
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
