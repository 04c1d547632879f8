"""MT-Bench: answer 80 questions in two turns each, have a judge grade every answer 1-10, report by category.

Every answer and every judgment is appended to a JSONL log as soon as it exists (answers.jsonl,
judgments.jsonl in the output folder), so a crash or a judge outage loses nothing: a rerun
skips what is already there. Answers use FastChat's per-category temperatures.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pintsize.artifacts import atomic_write_json, atomic_write_text
from pintsize.jsonl import read_json_objects
from pintsize.errors import DataError, PintsizeError
from pintsize.eval.judge import NEEDS_REFERENCE, Judge, judge_messages
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams

# FastChat's sampling temperature per category (greedy where there is one right answer).
TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}
JUDGE_PROMPTS = ("single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn")
# Below this share of rated judgments the score says more about the judge than about the model:
# the run has failed at its job (a judge that ignores the [[N]] format, a prompt it rejects).
MIN_SCORED = 0.5


@dataclass
class MTBenchData:
    questions: list[dict]
    prompts: dict[str, dict]
    references: dict[int, list[str]]


def _read_jsonl(path: Path, required: dict[str, type]) -> list[dict]:
    if not path.is_file():
        raise DataError(f"{path}: missing (MT-Bench data folder: question.jsonl, judge_prompts.jsonl, reference_answer/gpt-4.jsonl)")
    return [rec for _, rec in read_json_objects(path, required)]


def load_mtbench(data_dir: str | Path) -> MTBenchData:
    """Questions, judge prompts and reference answers from FastChat's files, checked record by record."""
    d = Path(data_dir)
    questions = _read_jsonl(d / "question.jsonl", {"question_id": int, "category": str, "turns": list})
    for q in questions:
        if len(q["turns"]) != 2 or not all(isinstance(t, str) for t in q["turns"]):
            raise DataError(f"{d / 'question.jsonl'}: question {q['question_id']} must have two turns of text")
    prompts = {p["name"]: p for p in _read_jsonl(d / "judge_prompts.jsonl", {"name": str, "system_prompt": str, "prompt_template": str})}
    missing = [n for n in JUDGE_PROMPTS if n not in prompts]
    if missing:
        raise DataError(f"{d / 'judge_prompts.jsonl'}: no judge prompt named {', '.join(missing)}")
    refs = {}
    for r in _read_jsonl(d / "reference_answer" / "gpt-4.jsonl", {"question_id": int, "choices": list}):
        refs[r["question_id"]] = r["choices"][0]["turns"]
    lacking = [q["question_id"] for q in questions if q["category"] in NEEDS_REFERENCE and q["question_id"] not in refs]
    if lacking:
        raise DataError(f"{d / 'reference_answer' / 'gpt-4.jsonl'}: no reference answer for questions {lacking}")
    return MTBenchData(questions, prompts, refs)


# ---------------------------------------------------------------- append-only logs


def read_log(path: Path) -> list[dict]:
    """Records of a JSONL log; a line torn by a crash is dropped (and the file rewritten without it)."""
    if not path.is_file():
        return []
    good, torn = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            torn = True
    if torn:
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in good))
    return good


def append_log(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------- answering


def answer_questions(
    gen: Generator,
    data: MTBenchData,
    log: Path,
    max_new_tokens: int = 1024,
    limit: int | None = None,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
    batch: int = 8,
) -> int:
    """Answer the questions not yet in `log`, both turns; returns how many were answered now.
    Up to `batch` questions are answered at once, decoded together; each gets the answer it
    would get alone (per-question seeded sampling)."""
    from pintsize.serve.batching import batched_decoding

    done = {r["question_id"] for r in read_log(log)}
    todo = [q for q in data.questions[:limit] if q["question_id"] not in done]
    with batched_decoding(gen, batch) as decoder, ThreadPoolExecutor(max_workers=batch) as pool:
        futures = [pool.submit(answer_question, gen, decoder, q, max_new_tokens, seed) for q in todo]
        try:
            for fut in as_completed(futures):
                append_log(log, fut.result())  # one writer: this thread
                if progress:
                    progress()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return len(todo)


def answer_question(gen: Generator, decoder, q: dict, max_new_tokens: int, seed: int) -> dict:
    """Both turns of one question, as its answers-log record."""
    messages, turns, finish = [], [], []
    for text in q["turns"]:
        messages.append({"role": "user", "content": text})
        ids = gen.chat_prompt(messages)
        room = gen.context_length - len(ids)
        if room <= 0:  # the conversation no longer fits the model's context
            reply, reason = "", "context_full"
        else:
            params = SamplingParams(max_new_tokens=min(max_new_tokens, room), temperature=TEMPERATURE.get(q["category"], 0.7), seed=seed)
            done_turn = gen.stream(ids, params, decoder).completion()
            reply, reason = done_turn.text, done_turn.finish_reason
        messages.append({"role": "assistant", "content": reply})
        turns.append(reply)
        finish.append(reason)
    return {"question_id": q["question_id"], "category": q["category"], "model_id": gen.name, "turns": turns,
            "finish_reasons": finish, "tstamp": time.time()}


# ---------------------------------------------------------------- judging


@dataclass
class JudgeRun:
    judged: int = 0
    failed: int = 0
    first_failure: str | None = None


def judge_answers(
    judge: Judge,
    data: MTBenchData,
    answers_log: Path,
    log: Path,
    parallel: int = 4,
    retry_unscored: bool = False,
    progress: Callable[[], None] | None = None,
) -> JudgeRun:
    """Grade every answered turn not yet judged (and, with retry_unscored, those without a rating)."""
    latest = {(r["question_id"], r["turn"]): r for r in read_log(log)}
    questions = {q["question_id"]: q for q in data.questions}
    todo = []
    for ans in read_log(answers_log):
        q = questions.get(ans["question_id"])
        for turn in (1, 2):
            prev = latest.get((ans["question_id"], turn))
            if q is not None and (prev is None or (retry_unscored and prev["score"] is None)):
                todo.append((q, ans, turn))
    run = JudgeRun()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {}
        for q, ans, turn in todo:
            name, messages = judge_messages(data.prompts, q, ans["turns"], turn, data.references.get(q["question_id"]))
            futures[pool.submit(judge, messages)] = (q, turn, name)
        try:
            for fut in as_completed(futures):
                q, turn, name = futures[fut]
                try:
                    verdict = fut.result()
                except PintsizeError:
                    raise
                except Exception as e:  # connection, timeout, 429 or 5xx after the client's retries
                    run.failed += 1
                    run.first_failure = run.first_failure or f"question {q['question_id']} turn {turn}: {e}"
                    continue
                append_log(log, {
                    "question_id": q["question_id"], "turn": turn, "category": q["category"], "judge": judge.model,
                    "prompt": name, "score": verdict.rating, "error": verdict.error, "judgment": verdict.reply, "tstamp": time.time(),
                })
                run.judged += 1
                if progress:
                    progress()
        finally:
            for fut in futures:
                fut.cancel()
    return run


def summarize(data: MTBenchData, judgments_log: Path) -> dict:
    """Mean rating per category and turn, overall, and the counts of unscored judgments."""
    latest = {(r["question_id"], r["turn"]): r for r in read_log(judgments_log)}
    rows: dict[str, dict] = {}
    scores_all: list[float] = []
    for q in data.questions:
        cat = rows.setdefault(q["category"], {"turn1": [], "turn2": [], "unscored": 0})
        for turn in (1, 2):
            j = latest.get((q["question_id"], turn))
            if j is None:
                continue
            if j["score"] is None:
                cat["unscored"] += 1
            else:
                cat[f"turn{turn}"].append(j["score"])
                scores_all.append(j["score"])

    def mean(xs):
        return sum(xs) / len(xs) if xs else None

    categories = {
        c: {"turn1": mean(v["turn1"]), "turn2": mean(v["turn2"]), "score": mean(v["turn1"] + v["turn2"]),
            "scored": len(v["turn1"]) + len(v["turn2"]), "unscored": v["unscored"]}
        for c, v in rows.items()
        if v["turn1"] or v["turn2"] or v["unscored"]  # categories with no judgment yet (--limit) are left out
    }
    return {
        "score": mean(scores_all),
        "turn1": mean([s for c in rows.values() for s in c["turn1"]]),
        "turn2": mean([s for c in rows.values() for s in c["turn2"]]),
        "judged": len(latest),
        "scored": len(scores_all),
        "unscored": sum(v["unscored"] for v in rows.values()),
        "categories": categories,
    }


def run_mtbench(
    gen: Generator,
    judge: Judge,
    data_dir: str | Path,
    out_dir: str | Path,
    max_new_tokens: int = 1024,
    parallel: int = 4,
    limit: int | None = None,
    retry_unscored: bool = False,
    progress: Callable[[str], Callable[[], None]] | None = None,
    min_scored: float = MIN_SCORED,
) -> dict:
    """Answer, judge, summarize into out_dir/results.json; resumes from the logs already in out_dir.

    Raises PintsizeError when judgments failed, or when fewer than `min_scored` of the judgments
    have a rating (after saving everything that succeeded)."""
    data = load_mtbench(data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    answers, judgments = out / "answers.jsonl", out / "judgments.jsonl"
    answer_questions(gen, data, answers, max_new_tokens, limit, progress=progress("answering") if progress else None)
    run = judge_answers(judge, data, answers, judgments, parallel, retry_unscored, progress=progress("judging") if progress else None)
    results = {"model": gen.name, "judge": judge.model, "judge_url": judge.url, **summarize(data, judgments)}
    atomic_write_json(out / "results.json", results)
    if run.failed:
        raise PintsizeError(
            f"{run.failed} judgments failed (first: {run.first_failure}); the answers and the {results['judged']} "
            f"judgments so far are saved in {out}: run the same command again to finish"
        )
    if results["scored"] < min_scored * results["judged"] or not results["judged"]:
        raise PintsizeError(
            f"only {results['scored']} of {results['judged']} judgments have a rating (at least {min_scored:.0%} needed): "
            f"{first_unscored(judgments)}; all saved in {judgments} (--retry-unscored asks again)"
        )
    return results


def first_unscored(judgments_log: Path) -> str:
    """Why the first unrated judgment has no rating, quoting the start of the judge's reply."""
    for r in read_log(judgments_log):
        if r["score"] is None:
            reply = " ".join((r.get("judgment") or "").split())
            quoted = f' (it began: "{reply[:80]}{"..." if len(reply) > 80 else ""}")' if reply else ""
            return f"question {r['question_id']} turn {r['turn']}: {r['error']}{quoted}"
    return "no judgment was made"
