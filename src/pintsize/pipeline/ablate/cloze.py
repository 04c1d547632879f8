"""A downstream task a tiny model can move on: choose the true next line of a held-out passage.

Tiny models sit at chance on HellaSwag and ARC, so an ablation of tiny models needs a task that
measures the same skill (continuing expository text sensibly) at their level. Each item is
built from a held-out document: the context is up to `context_chars` characters of the document
ending at a line end, and the four choices are the document's true next line and three lines of
other held-out documents (distractors of similar length, shuffled). The model's choice is the
line with the highest log-likelihood per UTF-8 byte given the context (lm-eval's `acc_norm`
rule, scored through our lm-eval adapter), so line length is no cue. Chance is 25%.

Only prose-like lines are used as answers and distractors (30-200 characters, at least 4 words,
mostly letters), so that the choice turns on language and topic, not on markup.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

CHOICES = 4
MIN_LINE, MAX_LINE = 30, 200
MIN_CONTEXT = 200


def _eligible(line: str) -> bool:
    s = line.strip()
    if not MIN_LINE <= len(s) <= MAX_LINE or len(s.split()) < 4:
        return False
    return sum(c.isalpha() or c == " " for c in s) / len(s) >= 0.75


def build_cloze(texts: list[str], n_items: int, context_chars: int, seed: int = 0) -> list[dict]:
    """Items {"id", "context", "choices", "gold"} from held-out documents (deterministic given the seed)."""
    if n_items <= 0:
        return []
    rng = random.Random(seed)
    candidates: list[tuple[int, int, int]] = []  # (doc, char offset of the line, line index)
    pool: list[tuple[int, str]] = []  # (doc, line) distractor pool
    lines_of: list[list[str]] = []
    for d, text in enumerate(texts):
        lines = text.split("\n")
        lines_of.append(lines)
        offset = 0
        for k, line in enumerate(lines):
            if _eligible(line):
                pool.append((d, line.strip()))
                if offset >= MIN_CONTEXT:
                    candidates.append((d, offset, k))
            offset += len(line) + 1
    docs_in_pool = {d for d, _ in pool}
    if not candidates or len(docs_in_pool) < CHOICES:
        return []
    rng.shuffle(candidates)
    # spread the items over documents: at most a fair share per document, then fill up
    per_doc = max(1, math.ceil(n_items / len({c[0] for c in candidates})))
    taken: dict[int, int] = {}
    chosen = []
    for c in candidates:
        if taken.get(c[0], 0) < per_doc:
            chosen.append(c)
            taken[c[0]] = taken.get(c[0], 0) + 1
        if len(chosen) == n_items:
            break
    items = []
    for d, offset, k in chosen:
        answer = lines_of[d][k].strip()
        context = texts[d][:offset]
        if len(context) > context_chars:
            start = context.find("\n", len(context) - context_chars)
            context = context[start + 1 :] if 0 <= start < len(context) - 1 else context[-context_chars:]
        distractors: list[str] = []
        for _ in range(200):
            e, line = pool[rng.randrange(len(pool))]
            if e != d and line != answer and line not in distractors and line not in context and _similar(line, answer):
                distractors.append(line)
                if len(distractors) == CHOICES - 1:
                    break
        if len(distractors) < CHOICES - 1:
            continue
        choices = [answer, *distractors]
        rng.shuffle(choices)
        items.append({"id": f"cloze-{len(items)}", "context": context, "choices": choices, "gold": choices.index(answer)})
    return items


def _similar(a: str, b: str) -> bool:
    return 0.5 <= len(a) / len(b) <= 2.0


@dataclass
class _Request:  # what lm-eval's loglikelihood reads from an Instance
    args: tuple[str, str]


def score_cloze(lm, items: list[dict]) -> dict:
    """Accuracy of an lm-eval LM (e.g. `PintsizeLM`) on the items, with its binomial standard error.

    `accuracy` (the primary score) picks the line with the highest log-likelihood per byte given
    the passage. `accuracy_context` picks the line whose log-likelihood the passage raises most
    (log p(line | passage) - log p(line | nothing), lm-eval's mutual-information rule): it
    cancels how likely a line is on its own, so it measures only whether the model uses the
    passage. It was added after the per-byte score of the first full ablation sat at chance for
    every variant, and is reported as a secondary score.
    """
    if not items:
        return {"n": 0, "accuracy": None, "stderr": None, "accuracy_context": None, "stderr_context": None, "chance": 1 / CHOICES}
    requests = [_Request((it["context"], c)) for it in items for c in it["choices"]]
    alone = sorted({c for it in items for c in it["choices"]})
    # the context "\n" leaves BOS as the only context and "\n" + line as the continuation, as above
    results = lm.loglikelihood(requests + [_Request(("\n", c)) for c in alone], disable_tqdm=True)
    prior = {c: results[len(requests) + j][0] for j, c in enumerate(alone)}
    correct = correct_context = 0
    i = 0
    for it in items:
        per_byte, gain = [], []
        for c in it["choices"]:
            per_byte.append(results[i][0] / max(1, len(c.encode("utf-8"))))
            gain.append(results[i][0] - prior[c])
            i += 1
        correct += int(_argmax(per_byte) == it["gold"])
        correct_context += int(_argmax(gain) == it["gold"])
    n = len(items)
    acc, acc_ctx = correct / n, correct_context / n
    return {
        "n": n,
        "accuracy": acc,
        "stderr": math.sqrt(acc * (1 - acc) / n),
        "accuracy_context": acc_ctx,
        "stderr_context": math.sqrt(acc_ctx * (1 - acc_ctx) / n),
        "chance": 1 / CHOICES,
    }


def _argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=xs.__getitem__)
