"""Passkey retrieval: can the model find a 5-digit number hidden at some depth of a long filler text?

The test of Mohtashami & Jaggi (landmark attention), as used by LongLoRA and others: the prompt
is repeated filler sentences with one "The pass key is NNNNN. Remember it." line inserted, then
"What is the pass key? The pass key is"; the model answers greedily and is right when the first
number it writes is the key. Accuracy is reported per prompt length; each trial puts the key at
a different depth (evenly from the start to the end of the filler).
"""

from __future__ import annotations

import random
import re
from typing import Callable

from pintsize.errors import PintsizeError
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams

TASK = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there."
FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = " What is the pass key? The pass key is"
ANSWER_TOKENS = 10


def build_prompt(gen: Generator, length: int, depth: float, key: int) -> list[int]:
    """Token ids of a passkey prompt at most `length` tokens long, the key line at `depth` (0..1) of the filler."""
    needle = f" The pass key is {key}. Remember it. {key} is the pass key."
    fixed = len(gen.encode(TASK + needle + QUESTION))
    per_filler = len(gen.encode(FILLER * 20, add_special_tokens=False)) / 20
    n = max(0, int((length - fixed) / per_filler))
    while n >= 0:
        before = round(n * depth)
        ids = gen.encode(TASK + FILLER * before + needle + FILLER * (n - before) + QUESTION)
        if len(ids) <= length:
            return ids
        n -= 1
    raise PintsizeError(f"a passkey prompt needs more than {length} tokens")


def first_number(text: str) -> int | None:
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None


def run_passkey(
    gen: Generator,
    lengths: list[int],
    trials: int = 5,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
) -> dict:
    """{"lengths": {L: {"accuracy", "correct", "trials", "answers"}}, "accuracy": overall}.

    A length counts the prompt and the room left for the answer (ANSWER_TOKENS)."""
    ctx = gen.context_length
    too_long = [n for n in lengths if n > ctx]
    if too_long:
        raise PintsizeError(f"passkey lengths {too_long} are longer than the model's context of {ctx} tokens")
    rng = random.Random(seed)
    results, total, right = {}, 0, 0
    for length in lengths:
        correct, answers = 0, []
        for t in range(trials):
            key = rng.randint(10000, 99999)
            depth = t / (trials - 1) if trials > 1 else 0.5
            ids = build_prompt(gen, length - ANSWER_TOKENS, depth, key)
            reply = gen.complete(ids, SamplingParams(max_new_tokens=ANSWER_TOKENS)).text
            ok = first_number(reply) == key
            correct += ok
            answers.append({"depth": round(depth, 3), "key": key, "reply": reply, "correct": ok, "prompt_tokens": len(ids)})
            if progress:
                progress()
        results[str(length)] = {"accuracy": correct / trials, "correct": correct, "trials": trials, "answers": answers}
        total, right = total + trials, right + correct
    return {"lengths": results, "accuracy": right / total if total else None}


def default_lengths(context: int) -> list[int]:
    """2K, 4K, 8K, ... up to the model's context (the context itself when it is under 2K)."""
    out, n = [], 2048
    while n <= context:
        out.append(n)
        n *= 2
    if not out or out[-1] != context:
        out.append(context)
    return out
