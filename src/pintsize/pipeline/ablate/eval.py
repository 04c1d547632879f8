"""Scoring one trained model of an ablation: held-out bits per byte, the cloze task, and
optionally lm-eval tasks (for the record: tiny models sit at chance on them)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from pintsize.pipeline.ablate.config import AblateConfig
from pintsize.pipeline.ablate.split import CLOZE, EVAL, HELDOUT, read_jsonl


def eval_config(cfg: AblateConfig, seq_len: int) -> dict:
    """What decides a run's scores besides its model and the held-out split (a result is reused only when it matches)."""
    return {
        "seq_len": seq_len,
        "cloze_scoring": 2,  # 2: per-byte and context-gain accuracy
        "harness_tasks": cfg.harness_tasks,
        "harness_limit": cfg.harness_limit if cfg.harness_tasks else None,
        **({"harness_include_paths": cfg.harness_include_paths} if cfg.harness_include_paths else {}),  # keeps older keys
    }


def evaluate_run(model_dir: Path, split: Path, cfg: AblateConfig, seq_len: int) -> dict:
    from pintsize.eval.lm import PintsizeLM
    from pintsize.eval.perplexity import evaluate_perplexity
    from pintsize.pipeline.ablate.cloze import score_cloze
    from pintsize.serve.generate import Generator

    t0 = time.time()
    gen = Generator.load(model_dir, device="cpu")
    texts = [d["text"] for d in read_jsonl(split / HELDOUT / EVAL)]
    ppl = evaluate_perplexity(gen.model, gen.tokenizer, texts, seq_len=seq_len, batch_size=cfg.eval_batch_size)
    lm = PintsizeLM(gen, batch_size=cfg.eval_batch_size, max_length=seq_len)
    cloze = score_cloze(lm, read_jsonl(split / HELDOUT / CLOZE))
    result = {
        "heldout": {
            "bits_per_byte": ppl.bits_per_byte,
            "loss": ppl.loss,
            "documents": ppl.documents,
            "tokens": ppl.tokens,
            "bytes": ppl.bytes,
        },
        "cloze": cloze,
        "harness": {},
    }
    if cfg.harness_tasks:
        from pintsize.eval.harness import run_harness

        out = run_harness(lm, cfg.harness_tasks, limit=cfg.harness_limit, include_paths=cfg.harness_include_paths)
        for task, head in out["headline"].items():
            n, value = out["n-samples"].get(task, {}).get("effective"), float(head["value"])
            stderr = math.sqrt(value * (1 - value) / n) if n else None
            result["harness"][task] = {"metric": head["metric"], "value": value, "n": n, "stderr": stderr}
    result["eval_seconds"] = round(time.time() - t0, 1)
    return result
