"""The eval stage: every evaluation the [eval] section asks for, into one artifact.

    <out>/results.json    {"model", "perplexity", "harness", "passkey", "mtbench", "samples", "docs_questions"} (those that ran)
    <out>/mtbench/        answers.jsonl, judgments.jsonl, results.json (when a judge is configured)

An interrupted stage keeps its partial directory, so MT-Bench answers and judgments already
made are reused when the stage runs again with the same config and model.
"""

from __future__ import annotations

import os
from pathlib import Path

from pintsize.artifacts import ArtifactWriter, atomic_write_json
from pintsize.errors import PintsizeError
from pintsize.eval.config import EvalConfig
from pintsize.eval.harness import find_eval_data
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams


def run_eval(config: EvalConfig, model: Path, out: Path, shards: Path | None = None) -> Path:
    model, out = Path(model), Path(out)
    inputs: dict[str, Path] = {"model": model}
    if config.perplexity:
        if config.perplexity_data:
            inputs["perplexity_data"] = Path(config.perplexity_data)
        elif shards is not None:
            inputs["shards"] = Path(shards)
        else:
            raise PintsizeError("[eval] perplexity = true needs perplexity_data or the run's shards")
    with ArtifactWriter(out, "eval", config, inputs=inputs) as art:
        gen = Generator.load(model, device=config.device)
        results: dict = {"model": str(model.resolve())}
        if config.perplexity:
            results["perplexity"] = perplexity(gen, config, inputs.get("perplexity_data"), inputs.get("shards"))
            art.stats["bits_per_byte"] = results["perplexity"]["bits_per_byte"]
        if harness_skipped(config):
            results["harness"] = {"skipped": "no eval data folder ([eval] data_dir, $PINTSIZE_EVAL_DATA or shared/eval)"}
        elif config.harness_tasks:
            from pintsize.eval.harness import run_harness
            from pintsize.eval.lm import PintsizeLM

            lm = PintsizeLM(gen, batch_size=config.harness_batch_size)
            results["harness"] = run_harness(
                lm, config.harness_tasks, config.harness_limit, config.num_fewshot, config.data_dir,
                include_paths=config.harness_include_paths,
            )
            art.stats["harness"] = {t: h["value"] for t, h in results["harness"]["headline"].items()}
        if config.passkey_lengths:
            from pintsize.eval.passkey import run_passkey

            results["passkey"] = run_passkey(gen, config.passkey_lengths, config.passkey_trials)
            art.stats["passkey_accuracy"] = results["passkey"]["accuracy"]
        if config.mtbench_judge_url:
            results["mtbench"] = mtbench(gen, config, art.dir / "mtbench")
            art.stats["mtbench_score"] = results["mtbench"]["score"]
        if config.samples:
            results["samples"] = samples(gen, config.samples, config.samples_max_new_tokens, config.samples_chat)
        if config.docs_questions:
            from pintsize.eval.docs_questions import ask, questions

            results["docs_questions"] = ask(gen, questions(config.docs_questions), config.samples_max_new_tokens)
            art.stats["docs_questions"] = {k: results["docs_questions"][k] for k in ("questions", "distinct", "names_module")}
        atomic_write_json(art.dir / "results.json", results)
    return out


def harness_skipped(config: EvalConfig) -> bool:
    """harness_optional and a task needs the eval data folder, which is not here."""
    from pintsize.eval.harness import find_eval_data, needs_eval_data  # looked up at call time (tests replace it)

    return bool(config.harness_tasks and config.harness_optional and needs_eval_data(config.harness_tasks)
                and find_eval_data(config.data_dir) is None)


def perplexity(gen: Generator, config: EvalConfig, data: Path | None, shards: Path | None) -> dict:
    from pintsize.eval.perplexity import evaluate_perplexity
    from pintsize.eval.texts import read_texts, texts_from_shards

    if data is not None:
        texts, stats = read_texts(data, config.perplexity_max_documents)
    else:
        texts, stats = texts_from_shards(shards, "val", config.perplexity_max_documents)
    result = evaluate_perplexity(gen.model, gen.tokenizer, texts, config.perplexity_seq_len, config.perplexity_stride)
    return {
        **result.as_dict(),
        "source": str(data or f"{shards}/val"),
        "records": {"kept": stats.kept, "filtered": stats.filtered, "quarantined": stats.quarantined, "problems": stats.problems},
    }


def mtbench(gen: Generator, config: EvalConfig, out: Path) -> dict:
    from pintsize.eval.judge import Judge
    from pintsize.eval.mtbench import run_mtbench

    data = find_eval_data(config.data_dir)
    if data is None or not (data / "mt_bench").is_dir():
        raise PintsizeError("MT-Bench needs its data (mt_bench/ in the eval data folder): set [eval] data_dir or $PINTSIZE_EVAL_DATA")
    if not config.mtbench_judge_model:
        raise PintsizeError("[eval] mtbench_judge_url is set but mtbench_judge_model is not")
    judge = Judge(config.mtbench_judge_url, config.mtbench_judge_model, os.environ.get(config.mtbench_judge_key_env))
    return run_mtbench(gen, judge, data / "mt_bench", out, config.mtbench_max_new_tokens, config.mtbench_parallel,
                       min_scored=config.mtbench_min_scored)


def samples(gen: Generator, prompts: list[str], max_new_tokens: int, chat: bool | None = None) -> list[dict]:
    """Greedy replies to the report's prompts: in the chat template when `chat` (None: when the
    tokenizer has one), else the prompt continued as plain text."""
    chat = bool(gen.tokenizer.chat_template) if chat is None else chat
    out = []
    for prompt in prompts:
        ids = gen.chat_prompt([{"role": "user", "content": prompt}]) if chat else gen.encode(prompt)
        done = gen.complete(ids, SamplingParams(max_new_tokens=min(max_new_tokens, gen.context_length - len(ids))))
        out.append({"prompt": prompt, "chat": chat, "completion": done.text, "finish_reason": done.finish_reason})
    return out
