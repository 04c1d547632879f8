"""Does the chat model listen? Questions about standard-library functions that its built-in SFT data
never answered (`pintsize.data.docs_chat.held_out_functions`), asked the way that data asks.

Two counts, each of which a model that ignores the question fails (the demo's model once answered
"Return the `builtins` module." to every question):
- distinct: how many different answers it gave (greedy; answers compared after trimming spaces);
- names the module: how many answers name the module of the function asked about, as a word
  (`json` for `json.dumps`; case matters, so "JSON" in a docstring does not count).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from pintsize.data.docs_chat import QUESTIONS, held_out_functions
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams


def questions(n: int) -> list[dict]:
    """Up to `n` questions, one per held-out function, the phrasings taken in turn."""
    out = []
    for i, f in enumerate(held_out_functions()[:n]):
        module = f["name"].rsplit(".", 1)[0]
        out.append({"function": f["name"], "module": module, "question": QUESTIONS[i % len(QUESTIONS)].format(name=f["name"], sig=f["sig"])})
    return out


def names_module(answer: str, module: str) -> bool:
    """The module's dotted name as a whole word of the answer (not inside another name)."""
    return re.search(rf"(?<![\w.]){re.escape(module)}(?![\w])", answer) is not None


def ask(gen: Generator, items: list[dict], max_new_tokens: int, batch: int = 8) -> dict:
    """Greedy answers to the questions, decoded `batch` at a time, and the two counts."""
    from pintsize.serve.batching import batched_decoding

    def answer(decoder, item: dict) -> str:
        ids = gen.chat_prompt([{"role": "user", "content": item["question"]}])
        params = SamplingParams(max_new_tokens=min(max_new_tokens, gen.context_length - len(ids)), temperature=0.0)
        return gen.stream(ids, params, decoder).completion().text.strip()

    with batched_decoding(gen, batch) as decoder, ThreadPoolExecutor(max_workers=batch) as pool:
        answers = list(pool.map(lambda item: answer(decoder, item), items))
    rows = [{**item, "answer": a, "names_module": names_module(a, item["module"])} for item, a in zip(items, answers)]
    return {
        "questions": len(rows),
        "distinct": len(set(answers)),
        "names_module": sum(r["names_module"] for r in rows),
        "answers": rows,
    }
