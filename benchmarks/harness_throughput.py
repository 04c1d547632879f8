"""lm-eval throughput: pintsize's adapter (`PintsizeLM`) against lm-eval's own Hugging Face backend
(`HFLM`) on the Hugging Face export of the same checkpoint, the same tasks and requests, at several
batch sizes.

    python benchmarks/harness_throughput.py                               # tiny shape, Pints vocabulary, bs 1 and 8
    python benchmarks/harness_throughput.py --model 0.12-pint --limit 50  # a bigger model
    python benchmarks/harness_throughput.py --tokenizer bpe4096           # the demo's vocabulary size
    python benchmarks/harness_throughput.py --limit 20 --repeat 1         # a smoke run
    python benchmarks/harness_throughput.py --model-dir /work/wt/_shared/smollm2   # a real model (pintsize import gguf builtin:smollm2 DIR)

With --model-dir the model is that pintsize model (with its tokenizer), e.g. SmolLM2-135M-Instruct.
Otherwise it has random weights (a named shape; the Pints tokenizer of 32,064 tokens, or with
--tokenizer bpe4096 a 4k BPE trained on the stdlib docs, as the demo model has); both backends
run it in fp32 on the same device and thread count. The requests of each task are built once by
lm-eval (`Task.build_all_requests`) and handed to `lm.loglikelihood`, so the time is tokenization
plus scoring, the part the backends differ in. Both must give the same answers: the largest
log-likelihood difference and the number of differing greedy flags are in the table. The median
of --repeat runs is reported, after one warm-up run of each.

Prints a table and a final JSON line; writes harness_throughput.json under $OUT when it is set.
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

from pintsize.eval.harness import expand, find_eval_data, resolve_tasks  # noqa: E402
from pintsize.eval.lm import PintsizeLM  # noqa: E402
from pintsize.model.checkpoint import save_model  # noqa: E402
from pintsize.model.config import get_config  # noqa: E402
from pintsize.model.hf import export_hf  # noqa: E402
from pintsize.model.llama import Llama  # noqa: E402
from pintsize.serve.generate import Generator  # noqa: E402
from pintsize.tokenizer import build_pints_tokenizer  # noqa: E402


def build_tokenizer(kind: str, out: Path) -> Path:
    if kind == "pints":
        return build_pints_tokenizer(out)
    # A byte-level BPE trained on the stdlib documentation, as the demo trains one (--tokenizer bpe4096).
    from pintsize.data.pydoc_corpus import pydoc_documents
    from pintsize.tokenizer.hf_files import save_hf_tokenizer
    from pintsize.tokenizer.train import train_bpe_backend

    out.mkdir(parents=True)
    save_hf_tokenizer(train_bpe_backend((d["text"] for d in pydoc_documents(limit=200)), int(kind.removeprefix("bpe"))), out)
    return out


def build_model(shape: str, tokenizer: str, work: Path) -> tuple[Path, Path]:
    from pintsize.tokenizer import TokenizerInfo

    tok = build_tokenizer(tokenizer, work / "tok")
    cfg = get_config(shape, vocab_size=TokenizerInfo.read(tok).vocab_size)
    torch.manual_seed(0)
    model = Llama(cfg)
    save_model(model, cfg, work / "model", tokenizer_dir=tok)
    return work / "model", export_hf(work / "model", work / "hf")


def requests(tasks: list[str], limit: int, data_dir: str | None, work: Path) -> dict[str, list]:
    """lm-eval's own Instances of each task (its prompts, its few-shot setting)."""
    from lm_eval.tasks import get_task_dict

    manager = resolve_tasks(expand(tasks, None), find_eval_data(data_dir), work / "tasks", [])
    out = {}
    for name, task in get_task_dict(tasks, manager).items():
        task.build_all_requests(limit=limit, rank=0, world_size=1)
        out[name] = [inst for inst in task.instances if inst.request_type == "loglikelihood"]
    return out


def timed(lm, reqs) -> tuple[float, list]:
    t0 = time.perf_counter()
    answers = lm.loglikelihood(reqs, disable_tqdm=True)
    return time.perf_counter() - t0, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny", help="a named shape (tiny, 0.12-pint)")
    ap.add_argument("--model-dir", default=None, help="a pintsize model directory to measure instead of a random shape")
    ap.add_argument("--tokenizer", default="pints", help="pints (32,064 tokens) or bpeN (a byte-level BPE of N tokens, e.g. bpe4096 as the demo)")
    ap.add_argument("--tasks", default="pintsize_hellaswag,pintsize_arc_easy")
    ap.add_argument("--limit", type=int, default=100, help="items per task")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--data-dir", default=None, help="the eval data folder (default: $PINTSIZE_EVAL_DATA or shared/eval)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from lm_eval.models.huggingface import HFLM

    tasks = [t for t in args.tasks.split(",") if t]
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "tasks").mkdir()
        if args.model_dir:
            model_dir, hf_dir = Path(args.model_dir), export_hf(args.model_dir, work / "hf")
        else:
            model_dir, hf_dir = build_model(args.model, args.tokenizer, work)
        per_task = requests(tasks, args.limit, args.data_dir, work)
        gen = Generator.load(model_dir, device="cpu")
        for task, reqs in per_task.items():
            for bs in sizes:
                ours = PintsizeLM(gen, batch_size=bs)
                theirs = HFLM(pretrained=str(hf_dir), batch_size=bs, device="cpu", dtype="float32")
                times: dict[str, list[float]] = {"pintsize": [], "hflm": []}
                answers = {}
                for i in range(args.repeat + 1):  # the first run of each is a warm-up
                    for name, lm in (("pintsize", ours), ("hflm", theirs)):
                        seconds, answers[name] = timed(lm, reqs)
                        if i:
                            times[name].append(seconds)
                t_ours, t_hf = statistics.median(times["pintsize"]), statistics.median(times["hflm"])
                diff = max(abs(a[0] - b[0]) for a, b in zip(answers["pintsize"], answers["hflm"], strict=True))
                flips = sum(a[1] != b[1] for a, b in zip(answers["pintsize"], answers["hflm"], strict=True))
                rows.append({
                    "task": task, "requests": len(reqs), "batch_size": bs,
                    "pintsize_s": round(t_ours, 3), "hflm_s": round(t_hf, 3),
                    "pintsize_req_per_s": round(len(reqs) / t_ours, 1), "hflm_req_per_s": round(len(reqs) / t_hf, 1),
                    "speedup": round(t_hf / t_ours, 2), "max_abs_loglik_diff": diff, "greedy_flag_diffs": flips,
                })
                print(f"  {task} bs {bs}: pintsize {t_ours:.2f}s, HFLM {t_hf:.2f}s", file=sys.stderr, flush=True)
    header = f"{'task':<22}{'reqs':>6}{'bs':>4}{'pintsize req/s':>16}{'HFLM req/s':>12}{'speedup':>9}{'max |dLL|':>11}{'flag diffs':>11}"
    what = f"model {args.model_dir}" if args.model_dir else f"model {args.model}, tokenizer {args.tokenizer} (random weights)"
    print(f"\nlm-eval loglikelihood throughput, {what}, fp32, CPU, {torch.get_num_threads()} threads")
    print(header)
    for r in rows:
        print(
            f"{r['task']:<22}{r['requests']:>6}{r['batch_size']:>4}{r['pintsize_req_per_s']:>16}{r['hflm_req_per_s']:>12}"
            f"{r['speedup']:>8}x{r['max_abs_loglik_diff']:>11.1e}{r['greedy_flag_diffs']:>11}"
        )
    result = {"benchmark": "harness_throughput", "model": args.model_dir or args.model, "tokenizer": None if args.model_dir else args.tokenizer, "limit": args.limit, "threads": torch.get_num_threads(), "rows": rows}
    print(json.dumps(result))
    if out := os.environ.get("OUT"):
        Path(out, "harness_throughput.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
