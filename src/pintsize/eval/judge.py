"""An LLM judge behind any OpenAI-compatible endpoint, with MT-Bench's single-answer grading.

Prompts, reference answers and score parsing follow FastChat's `llm_judge` (the code behind
MT-Bench): prompts "single-v1" / "single-math-v1" and their "-multi-turn" forms, reference answers
for math, reasoning and coding, temperature 0, and a rating read from "[[N]]" (or "[N]").
A reply without a rating in 1..10 is kept and counted as unscored, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pintsize.errors import PintsizeError

NEEDS_REFERENCE = frozenset({"math", "reasoning", "coding"})
_RATING = (re.compile(r"\[\[(\d+\.?\d*)\]\]"), re.compile(r"\[(\d+\.?\d*)\]"))


class JudgeUnavailable(PintsizeError):
    """The judge cannot be used at all (wrong URL, key or model): stop, and say which."""


def parse_rating(reply: str) -> float | None:
    """The judge's 1-10 rating, or None when the reply has none (or one outside 1..10)."""
    for pattern in _RATING:
        if m := pattern.search(reply):
            value = float(m.group(1))
            return value if 1 <= value <= 10 else None
    return None


def judge_messages(prompts: dict[str, dict], question: dict, answers: list[str], turn: int, reference: list[str] | None) -> tuple[str, list[dict]]:
    """(prompt name, chat messages) grading `turn` (1 or 2) of one answered question."""
    with_ref = question["category"] in NEEDS_REFERENCE
    name = ("single-math-v1" if with_ref else "single-v1") + ("-multi-turn" if turn == 2 else "")
    if with_ref and not reference:
        raise PintsizeError(f"question {question['question_id']} ({question['category']}) needs a reference answer")
    q = question["turns"]
    if turn == 1:
        fields = {"question": q[0], "answer": answers[0]}
        if with_ref:
            fields["ref_answer_1"] = reference[0]
    else:
        fields = {"question_1": q[0], "question_2": q[1], "answer_1": answers[0], "answer_2": answers[1]}
        if with_ref:
            fields |= {"ref_answer_1": reference[0], "ref_answer_2": reference[1]}
    template = prompts[name]
    user = template["prompt_template"].format(**fields)
    return name, [{"role": "system", "content": template["system_prompt"]}, {"role": "user", "content": user}]


@dataclass
class Verdict:
    reply: str
    rating: float | None
    error: str | None  # why there is no rating: none in the reply, or the judge refused the request


class Judge:
    """Calls the judge. Transient failures (connection, timeout, 429, 5xx) raise after the client's
    retries; a judge that cannot work (401, 403, 404) raises JudgeUnavailable; a request the judge
    rejects (400, e.g. too long for its context) becomes an unscored verdict."""

    def __init__(self, url: str, model: str, api_key: str | None, max_tokens: int = 2048, timeout: float = 300.0, max_retries: int = 2):
        import openai

        self.url, self.model, self.max_tokens = url, model, max_tokens
        # A judge served without authentication still needs some key for the client.
        self.client = openai.OpenAI(base_url=url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=max_retries)

    def __call__(self, messages: list[dict]) -> Verdict:
        import openai

        try:
            resp = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0.0, max_tokens=self.max_tokens)
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as e:
            raise JudgeUnavailable(f"judge {self.model} at {self.url}: {e}") from None
        except openai.BadRequestError as e:
            return Verdict("", None, f"the judge rejected the request: {e}")
        reply = (resp.choices[0].message.content or "") if resp.choices else ""
        rating = parse_rating(reply)
        return Verdict(reply, rating, None if rating is not None else "no rating [[1-10]] in the judge's reply")
