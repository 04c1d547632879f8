"""Issue 15's experiment: is a pruned-and-distilled SmolLM2 better than the alternatives on an equal
token budget? (Minitron, arXiv 2407.14679, predicts that (a) beats (d) by a wide margin, and that
distillation beats next-token training of the pruned model, (a) < (b).)

    pintsize run recipes/distill-smollm2.toml          # makes RUN/{teacher,tokenizer,pack,prune}
    python benchmarks/distill_smollm2.py runs/distill-smollm2 [--steps 60] [--batch 8] [--seq 256] [--save-models DIR]
    pintsize eval harness DIR/a -t pintsize_arc_easy --limit 400      # and b, c, d, RUN/teacher, RUN/prune

With teacher correction (issue 27): a run whose recipe sets [distill].correct_teacher_steps has
RUN/teacher-correct, and its prune stage pruned the corrected teacher; `--teacher teacher-correct`
distills from it. `--ood FILE.jsonl` adds held-out bits per byte on text outside the distillation
domain (scripts/fetch_fortunes_heldout.sh makes one). `--adapt-rounds K` adds
  (e) Adapt-Pruner: the teacher pruned layer-adaptively to the student's size in K rounds, each
      followed by its share of the same distillation batches, one LR schedule over all rounds

The same training batches (the recipe's packed stdlib documentation, tokenized by the teacher's
tokenizer) feed four students on the pintsize engine (`Trainer`):
  (a) the pruned teacher, distilled      (b) the pruned teacher, next-token loss only
  (c) its architecture from random init, distilled      (d) the same, next-token loss only
The teacher's top-k logits are computed once, for the training and the held-out batches, and
carried in the batches (DistillObjective uses them instead of running the teacher): (a) and (c)
share them, and every variant is scored against them on the held-out split, with next-token
bits per byte (the bytes the target tokens spell) and the KL to the teacher.
Throughput: tokens/s of a distillation step with the teacher run live, against a plain
next-token step of the same student.

Prints a table and one JSON line; writes --json and a plot (--plot).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from itertools import islice
from pathlib import Path

import torch

from pintsize.data.eval_batches import eval_batches
from pintsize.data.loader import TokenLoader
from pintsize.model.checkpoint import load_model, resolve_model_dir, save_model
from pintsize.model.llama import Llama
from pintsize.train.config import PretrainConfig
from pintsize.train.distill_objective import DistillObjective, teacher_targets
from pintsize.train.distributed import DistEnv
from pintsize.train.objective import LMObjective
from pintsize.train.token_bytes import token_byte_lengths
from pintsize.train.trainer import Trainer


class Batches:
    """A fixed list of batches as the engine's TrainData (resume is not needed here)."""

    def __init__(self, batches: list[dict]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@torch.no_grad()
def attach_teacher(teacher: Llama, batches: list[dict], temperature: float, top_k: int) -> float:
    """Put the teacher's top-k log-probabilities and ids into every batch; returns tokens/s."""
    t0, tokens = time.perf_counter(), 0
    for b in batches:
        logits = teacher(b["input_ids"], b.get("positions"))
        b["teacher_logp"], b["teacher_ids"] = teacher_targets(logits, teacher.config.vocab_size, temperature, top_k)
        tokens += b["input_ids"].numel()
    return tokens / (time.perf_counter() - t0)


@torch.no_grad()
def heldout(model: Llama, val: list[dict], objective: DistillObjective) -> dict:
    """Bits per byte and KL to the teacher over the held-out batches."""
    model.eval()
    sums = {"ce": 0.0, "kl": 0.0, "bytes": 0.0, "tokens": 0}
    for b in val:
        _, m = objective(model, b)
        for k in ("ce", "kl", "bytes"):
            sums[k] += float(m[k])
        sums["tokens"] += int(objective.units(b))
    model.train()
    return {
        "bpb": sums["ce"] / math.log(2) / sums["bytes"],
        "kl": sums["kl"] / sums["tokens"],
        "ce": sums["ce"] / sums["tokens"],
        "tokens": sums["tokens"],
    }


def train_config(args, lr: float, steps: int | None = None) -> PretrainConfig:
    steps = steps or args.steps
    return PretrainConfig(
        seq_len=args.seq, micro_batch_size=args.batch, global_batch_tokens=args.seq * args.batch, max_steps=steps,
        precision="fp32", ckpt_every=steps, keep_last=1, val_every=max(1, args.steps // args.points),
        val_tokens=10**9, log_every=max(1, args.steps // 10), seed=args.seed,
        optimizer=dict(lr=lr, min_lr=lr / 10, warmup_steps=max(1, args.steps // 10), weight_decay=0.0),
    )


def student(pruned: Llama, init: str, seed: int) -> Llama:
    if init == "pruned":
        return load_model(pruned.source_dir).train()
    torch.manual_seed(seed)
    return Llama(pruned.config).train()


def curve(run_dir: Path, offset: int = 0) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{"step": r["step"] + offset, "bpb": r["val_bpb"], "kl": r["val_kl"]} for r in rows if "val_bpb" in r]


def ood_bpb(model: Llama, tokenizer, texts: list[str] | None) -> float | None:
    """Bits per byte on held-out text outside the distillation domain (None without --ood)."""
    if not texts:
        return None
    from pintsize.eval.perplexity import evaluate_perplexity

    was_training = model.training
    r = evaluate_perplexity(model.eval(), tokenizer, texts, seq_len=min(512, model.config.block_size))
    model.train(was_training)
    return r.bits_per_byte


def adapt_pruner(args, teacher_dir: Path, target: int, train: list[dict], val: list[dict], token_bytes, env: DistEnv,
                 work: Path, calib) -> tuple[Llama, list[dict], list[dict]]:
    """(e): K rounds of layer-adaptive pruning (model.prune_adaptive) to evenly spaced sizes, each
    followed by its share of the distillation steps on the same batches, one LR schedule over all."""
    from pintsize.model.prune_adaptive import adaptive_prune
    from pintsize.train.iterative_distill import round_steps, round_targets

    model = load_model(teacher_dir)
    targets, steps = round_targets(model.num_params(), target, args.adapt_rounds), round_steps(args.steps, args.adapt_rounds)
    done, points, rounds = 0, [], []
    for k, (params, n) in enumerate(zip(targets, steps), start=1):
        result = adaptive_prune(model.eval(), params, calib, args.seq, args.batch, amplitude=args.adapt_amplitude)
        model = result.model.train()
        rounds.append({"round": k, "params": model.num_params(), "substeps": result.substeps, "steps": n,
                       "layers": [s.model_dump() for s in model.config.layers or []]})
        print(json.dumps({"e_round": rounds[-1]}), flush=True)
        objective = DistillObjective(None, model.config, args.temperature, args.kl_ratio, args.top_k, token_bytes)
        trainer = Trainer(model, objective, train_config(args, args.lr_pruned, n), env, work / f"e{k}",
                          Batches(train[done : done + n]), lambda: val, total_steps=n, section=f"variant e, round {k}",
                          schedule=(done, args.steps))
        trainer.fit()
        points += curve(work / f"e{k}", done)
        shutil.rmtree(work / f"e{k}")
        model, done = trainer.model, done + n
    return model, points, rounds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--top-k", type=int, default=64)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--kl-ratio", type=float, default=0.9, help="for the distilled variants (a), (c)")
    p.add_argument("--lr-pruned", type=float, default=5e-4)
    p.add_argument("--lr-random", type=float, default=2e-3)
    p.add_argument("--val-tokens", type=int, default=16384)
    p.add_argument("--points", type=int, default=4, help="held-out evaluations along each run")
    p.add_argument("--throughput-steps", type=int, default=3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--only", default="abcd", help="variants to train; e needs --adapt-rounds")
    p.add_argument("--targets-cache", type=Path, default=None,
                   help="a file for the batches with the teacher's top-k: written once, read by later runs of the same settings")
    p.add_argument("--teacher", default="teacher", help="the teacher's stage in RUN (teacher-correct: the corrected one)")
    p.add_argument("--ood", type=Path, default=None, help="held-out text outside the distillation domain (.jsonl, 'text')")
    p.add_argument("--adapt-rounds", type=int, default=10, help="(e): Adapt-Pruner's rounds (~5%% of the teacher each)")
    p.add_argument("--adapt-amplitude", type=float, default=0.02)
    p.add_argument("--adapt-calib-tokens", type=int, default=4096, help="(e): calibration tokens per sub-step")
    p.add_argument("--save-models", type=Path, default=None,
                   help="save each trained variant as a model artifact DIR/<a|b|c|d> (for `pintsize eval harness`)")
    p.add_argument("--no-references", action="store_true",
                   help="skip scoring the teacher and the untrained pruned model (another process of the same settings does it)")
    p.add_argument("--merge", type=Path, nargs="+", default=None,
                   help="only combine these result JSONs (one per process of the same settings) into --json, the plot and the table")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/distill_smollm2.json"))
    p.add_argument("--plot", type=Path, default=Path("benchmarks/distill_smollm2.png"))
    args = p.parse_args()
    if args.merge:
        return merge(args)

    run = args.run_dir
    if args.threads:
        torch.set_num_threads(args.threads)
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    teacher_dir = resolve_model_dir(run / args.teacher)  # a model dir, or a training stage's artifact (teacher-correct)
    teacher = load_model(teacher_dir).eval().requires_grad_(False)
    pruned = load_model(run / "prune").eval()
    pruned.source_dir = run / "prune"
    vocab = teacher.config.vocab_size
    token_bytes = token_byte_lengths(run / "tokenizer", vocab)
    loader = TokenLoader(run / "pack", "train", args.seq, args.batch, 0, 1, args.seed)
    train = list(islice(iter(loader), args.steps))
    val = list(eval_batches(run / "pack", "val", args.seq, args.batch, max_tokens=args.val_tokens))
    key = {k: str(getattr(args, k)) for k in ("run_dir", "teacher", "steps", "batch", "seq", "top_k", "temperature", "val_tokens", "seed")}
    if args.targets_cache and args.targets_cache.is_file() and (cached := torch.load(args.targets_cache))["key"] == key:
        train, val, teacher_tok_s = cached["train"], cached["val"], cached["teacher_tok_s"]  # another process's, same settings
    else:
        teacher_tok_s = attach_teacher(teacher, train + val, args.temperature, args.top_k)
        if args.targets_cache:
            tmp = args.targets_cache.with_name(args.targets_cache.name + ".tmp")  # parallel readers never see half a file
            torch.save({"key": key, "train": train, "val": val, "teacher_tok_s": teacher_tok_s}, tmp)
            tmp.rename(args.targets_cache)
    teacher_params, teacher_config = teacher.num_params(), teacher.config
    if args.no_references and not args.throughput_steps:  # the targets are in the batches: free the teacher's memory
        del teacher
    scorer = DistillObjective(None, teacher_config, args.temperature, 1.0, args.top_k, token_bytes)
    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(str(run / "tokenizer"))
    ood = [json.loads(line)["text"] for line in args.ood.read_text().splitlines() if line.strip()] if args.ood else None
    result = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "train_tokens": args.steps * args.batch * args.seq,
        "teacher_params": teacher_params, "student_params": pruned.num_params(),
        "teacher_topk_tokens_per_s": round(teacher_tok_s, 1),
        "variants": {},
    }
    if not args.no_references:
        result["teacher"] = heldout(teacher, val, scorer) | {"ood_bpb": ood_bpb(teacher, hf_tok, ood)}
        result["pruned_before_training"] = heldout(pruned, val, scorer) | {"ood_bpb": ood_bpb(pruned, hf_tok, ood)}
        if args.teacher != "teacher":  # the uncorrected teacher, for reference
            original = load_model(resolve_model_dir(run / "teacher")).eval()
            result["uncorrected_teacher"] = heldout(original, val, scorer) | {"ood_bpb": ood_bpb(original, hf_tok, ood)}
            del original
        print(json.dumps({k: result[k] for k in ("teacher", "pruned_before_training")}), flush=True)

    variants = {"a": ("pruned", args.kl_ratio), "b": ("pruned", 0.0), "c": ("random", args.kl_ratio), "d": ("random", 0.0)}
    work = Path(tempfile.mkdtemp(prefix="distill-smollm2-"))
    try:
        for name in args.only:
            if name == "e":
                from pintsize.model.prune_importance import calibration_tokens

                calib = calibration_tokens(run / "pack", None, teacher_config.vocab_size, args.adapt_calib_tokens)
                t0 = time.perf_counter()
                model, points, rounds = adapt_pruner(args, teacher_dir, pruned.num_params(), train, val, token_bytes, env,
                                                     work, calib)
                result["variants"]["e"] = {
                    "init": "adapt-pruner", "kl_ratio": args.kl_ratio, "lr": args.lr_pruned,
                    "seconds": round(time.perf_counter() - t0, 1), "params": model.num_params(), "rounds": rounds,
                    "final": heldout(model, val, scorer) | {"ood_bpb": ood_bpb(model, hf_tok, ood)}, "curve": points,
                }
                print(json.dumps({"e": result["variants"]["e"]["final"]}), flush=True)
                if args.save_models:
                    save_model(model, model.config, args.save_models / "e", run / "tokenizer")
                continue
            init, ratio = variants[name]
            lr = args.lr_pruned if init == "pruned" else args.lr_random
            model = student(pruned, init, args.seed)
            objective = DistillObjective(None, model.config, args.temperature, ratio, args.top_k, token_bytes)
            trainer = Trainer(model, objective, train_config(args, lr), env, work / name, Batches(train), lambda: val,
                              total_steps=args.steps, section=f"variant {name}")
            t0 = time.perf_counter()
            trainer.fit()
            seconds = time.perf_counter() - t0
            result["variants"][name] = {
                "init": init, "kl_ratio": ratio, "lr": lr, "seconds": round(seconds, 1),
                "final": heldout(trainer.model, val, scorer) | {"ood_bpb": ood_bpb(trainer.model, hf_tok, ood)},
                "curve": curve(work / name),
            }
            print(json.dumps({name: result["variants"][name]["final"]}), flush=True)
            if args.save_models:
                save_model(trainer.model, model.config, args.save_models / name, run / "tokenizer")
            shutil.rmtree(work / name)

        if args.throughput_steps:
            result["throughput"] = throughput(args, teacher, pruned, train, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    plot(result, args.plot)
    print_table(result)
    print(json.dumps(result))


def merge(args) -> None:
    """One result from several processes' JSONs: the references from whichever has them, every variant."""
    parts = [json.loads(f.read_text()) for f in args.merge]
    result = dict(parts[0], variants={})
    for part in parts:
        for k in ("teacher", "pruned_before_training", "uncorrected_teacher", "throughput"):
            if k in part:
                result[k] = part[k]
        result["variants"].update(part["variants"])
    result["merged_from"] = [str(f) for f in args.merge]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    plot(result, args.plot)
    print_table(result)


def throughput(args, teacher: Llama, pruned: Llama, train: list[dict], env: DistEnv, work: Path) -> dict:
    """Tokens/s of one optimizer step of the pruned student: distillation with the teacher run live
    (top-k), and plain next-token training. One warm-up step each, then `throughput_steps` timed."""
    live = [{k: v for k, v in b.items() if not k.startswith("teacher_")} for b in train[: args.throughput_steps + 1]]
    out = {}
    for name, objective in (
        ("distill_live_teacher", DistillObjective(teacher, pruned.config, args.temperature, args.kl_ratio, args.top_k)),
        ("next_token_only", LMObjective()),
    ):
        trainer = Trainer(load_model(pruned.source_dir), objective, train_config(args, 1e-4), env, work / name, None, None,
                          total_steps=len(live))
        trainer.train_step([live[0]])
        t0 = time.perf_counter()
        for b in live[1:]:
            trainer.train_step([b])
        out[name] = round(args.throughput_steps * args.batch * args.seq / (time.perf_counter() - t0), 1)
    out["ratio"] = round(out["distill_live_teacher"] / out["next_token_only"], 3)
    # What the FLOPs say: student 6N per token (forward + backward), teacher 2N (forward).
    n_s, n_t = pruned.num_params(), teacher.num_params()
    out["flops_ratio_expected"] = round(6 * n_s / (6 * n_s + 2 * n_t), 3)
    return out


NAMES = {"a": "(a) pruned + distill", "b": "(b) pruned + next-token", "c": "(c) random + distill", "d": "(d) random + next-token",
         "e": "(e) Adapt-Pruner + distill"}


def print_table(result: dict) -> None:
    print(f"\ntraining tokens per variant: {result['train_tokens']:,}")
    print(f"{'model':28} {'bits/byte':>10} {'KL to teacher':>14} {'OOD bits/byte':>14} {'seconds':>8}")
    refs = [(label, result[k], "") for label, k in (("teacher", "teacher"), ("uncorrected teacher", "uncorrected_teacher"),
                                                     ("pruned, before training", "pruned_before_training")) if k in result]
    for label, r, s in refs + [
        (NAMES[k], v["final"], v["seconds"]) for k, v in result["variants"].items()
    ]:
        ood = f"{r['ood_bpb']:.4f}" if r.get("ood_bpb") is not None else "-"
        print(f"{label:28} {r['bpb']:>10.4f} {r['kl']:>14.4f} {ood:>14} {s!s:>8}")
    if "throughput" in result:
        print(f"throughput (tokens/s): {result['throughput']}")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    per_step = result["settings"]["batch"] * result["settings"]["seq"]
    for k, v in result["variants"].items():
        ax.plot([c["step"] * per_step for c in v["curve"]], [c["bpb"] for c in v["curve"]], marker="o", label=NAMES[k])
    if "teacher" in result:
        ax.axhline(result["teacher"]["bpb"], color="black", ls="--", label="teacher (SmolLM2-135M)")
        ax.axhline(result["pruned_before_training"]["bpb"], color="grey", ls=":", label="pruned, before training")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("held-out bits per byte")
    ax.set_yscale("log")
    ax.set_title(f"SmolLM2-135M -> {result['student_params'] / 1e6:.1f}M: equal token budgets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
