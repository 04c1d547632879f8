"""An LLM judge's 0-5 "educational value" of a document (the FineWeb-Edu rubric), through any
OpenAI-compatible endpoint (`pintsize serve`, vLLM, llama.cpp's server, a hosted API).

Two ways to read the score:
- **logprobs** (first choice): the judge is asked for the score alone, with `logprobs: true,
  top_logprobs: 20`; the score is the expected value of the next-token distribution over the
  tokens "0".."5" at the position where the judge answers (see `expected_score`). A small judge that would not write "Educational score: N" still
  gives a distribution, so it cannot fail to parse.
- **text** (the fallback, for an endpoint without logprobs): the judge justifies its score and
  ends with "Educational score: N", which is parsed; a reply without it has no score, never a guess.

The judge decodes greedily (temperature 0): a reply without a score is the same reply when asked
again, so it is not re-asked. Transport failures (timeout, connection, 5xx, a body that is not
JSON) are retried with exponential backoff and counted per kind, with the judge's last error body.

httpx rather than the `openai` client: the client folds timeouts, 5xx and bad bodies into its own
retries, and we must count each kind.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field

from pintsize.errors import PintsizeError

KEEP_SCORE = 3  # FineWeb-Edu keeps documents its judge rates 3 or more
FAILURE_KINDS = ("timeout", "connection", "http_5xx", "http_4xx", "non_json", "no_score")
TOP_LOGPROBS = 20  # OpenAI's largest top_logprobs
LOGPROB_MAX_TOKENS = 8  # room for "Score: 3" when the judge does not answer with the digit alone

_RUBRIC = """Below is an extract from a document. Rate how useful it would be for teaching, from \
primary school to university, with this additive 5-point system. Add points for each criterion \
the extract meets:

- Add 1 point if the extract gives some basic information on an educational topic, even if it \
also contains advertisements, boilerplate, lists of names or other irrelevant material.
- Add another point if it addresses elements of a subject a student could learn from, but \
incoherently, or mixed with unrelated content, or only as terse fragments (an entry of a list, \
a log line, a table without explanation).
- Award a third point if it explains a topic coherently, in connected sentences, the way an \
introduction, a manual or an encyclopedia would, even if it leaves gaps.
- Grant a fourth point if it is clearly written, well organized and focused on teaching: \
definitions, reasoning, examples, like a chapter of a textbook or a tutorial.
- Give a fifth point if it is outstanding in its educational value: a reader at its level would \
learn something substantial, explained without errors or distractions.

Licences, changelogs, logs, chat, poetry, raw markup, word lists and tables without prose teach \
little and score 0 or 1. Do not reward length alone.

The extract:
<document>
{text}
</document>

"""
PROMPT = _RUBRIC + """After examining the extract, justify your total score in at most 80 words, then end \
with a line of exactly this form: "Educational score: <points>"."""
SCORE_PROMPT = _RUBRIC + "Answer with the total score alone: one digit from 0 to 5."

PROMPT_SHA256 = hashlib.sha256(PROMPT.encode()).hexdigest()
SCORE_PROMPT_SHA256 = hashlib.sha256(SCORE_PROMPT.encode()).hexdigest()
# What a cached answer is keyed by, besides the document and the model: both prompts (an answer
# of either kind stays valid while neither changes).
JUDGE_SHA256 = hashlib.sha256((PROMPT + "\0" + SCORE_PROMPT).encode()).hexdigest()
_SCORE = re.compile(r"educational score:\s*\**\s*([0-5])(?![\d.])", re.IGNORECASE)
DIGITS = tuple(str(d) for d in range(6))
PROBE_DOCUMENT = "Water boils at 100 degrees Celsius at sea level."
DIGIT_MASS = 0.1  # a position where the digits hold this much probability is where the judge answers


class JudgeUnreachable(PintsizeError):
    """The judge URL does not answer at all: stop before any work."""


def parse_score(reply: str) -> int | None:
    """The last "Educational score: N" (N in 0..5) of a reply, or None: never a guess."""
    found = _SCORE.findall(reply or "")
    return int(found[-1]) if found else None


def int_score(expected: float) -> int:
    """FineWeb-Edu's integer score: the expected value clamped to 0-5 and rounded half up."""
    return int(math.floor(min(max(expected, 0.0), 5.0) + 0.5))


def digit_probabilities(top: list[dict]) -> dict[int, float]:
    """P(score = d) at one position, from its top_logprobs entries ({"token", "logprob"}): tokens
    that are a digit 0-5 once stripped of spaces (" 3" and "3" both count as 3)."""
    probs: dict[int, float] = {}
    for entry in top:
        token = str(entry.get("token", "")).strip()
        if token in DIGITS:
            probs[int(token)] = probs.get(int(token), 0.0) + math.exp(float(entry["logprob"]))
    return probs


def expected_score(content: list[dict]) -> tuple[float, dict[int, float], int] | None:
    """(expected score, P(d) normalized over the digits seen, position) from a chat reply's
    `logprobs.content`, or None when no digit 0-5 appears among any position's top tokens.

    The position read is the first where the digits hold at least DIGIT_MASS of the probability
    (a judge that answers as asked: its first token); failing that, the first where it wrote a
    digit ("Score: 3"); failing that, the one where the digits are likeliest. Not simply the first
    digit written: a small judge that begins "The document contains a maximum of 5" has put its
    answer's odds on its first token. The expected value is over the digits alone (renormalized):
    the judge was asked for a digit, so the rest of the distribution is its failure to comply."""
    candidates = [(i, digit_probabilities(c.get("top_logprobs") or [])) for i, c in enumerate(content)]
    candidates = [(i, p) for i, p in candidates if p]
    if not candidates:
        return None
    at = dict(candidates)
    likely = [i for i, p in candidates if sum(p.values()) >= DIGIT_MASS]
    written = [i for i, c in enumerate(content) if str(c.get("token", "")).strip() in DIGITS and i in at]
    position = (likely or written or [max(candidates, key=lambda c: sum(c[1].values()))[0]])[0]
    probs = at[position]
    mass = sum(probs.values())
    normalized = {d: p / mass for d, p in sorted(probs.items())}
    return sum(d * p for d, p in normalized.items()), normalized, position


def check_reachable(url: str, api_key: str | None, timeout: float = 10.0) -> None:
    """Any HTTP answer from {url}/models will do; no answer is one clear line."""
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/models", headers=_headers(api_key), timeout=timeout)
    except httpx.HTTPError as e:
        raise JudgeUnreachable(f"judge {url}: not reachable ({type(e).__name__}: {e}); start it, or fix --judge") from None


def _headers(api_key: str | None) -> dict:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@dataclass
class Judge:
    url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    max_tokens: int = 256  # text scoring: room for the justification and the score line
    max_retries: int = 4
    backoff_s: float = 0.5
    scoring: str = "auto"  # auto: logprobs while the endpoint gives them, else text; or "logprobs" / "text"
    temperature: float = 0.0
    fallback_reason: str | None = None  # why auto scoring fell back to text, if it did
    failures: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    last_error: dict = field(default_factory=dict)  # kind -> the judge's last error body (or the exception)

    def __post_init__(self) -> None:
        import httpx

        if self.scoring not in ("auto", "logprobs", "text"):
            raise PintsizeError(f"judge scoring must be auto, logprobs or text (got {self.scoring!r})")
        self._client = httpx.Client(headers=_headers(self.api_key), timeout=self.timeout)
        self._lock = threading.Lock()
        self.method = "text" if self.scoring == "text" else "logprobs"  # auto falls back to text for good

    def close(self) -> None:
        self._client.close()

    def _fall_back(self, why: str) -> bool:
        """In auto mode, switch to text scoring for the rest of the run; False when that is not allowed."""
        if self.scoring != "auto":
            return False
        with self._lock:
            if self.method == "logprobs":
                self.method, self.fallback_reason = "text", why
        return True

    def probe(self) -> str:
        """In auto mode, find out once, on a one-line document and one token, whether the endpoint
        gives logprobs (so that no document is asked twice); returns the scoring method chosen.
        A probe that fails in transport decides nothing: the first answers decide instead."""
        import httpx

        if self.scoring != "auto":
            return self.method
        body = self._body(PROBE_DOCUMENT, "logprobs") | {"max_tokens": 1}
        try:
            r = self._client.post(f"{self.url.rstrip('/')}/chat/completions", json=body)
        except httpx.HTTPError:
            return self.method
        if 400 <= r.status_code < 500 and r.status_code != 429 and "logprob" in r.text.lower():
            self._fall_back(f"HTTP {r.status_code}: {r.text[:200]}")
        elif r.status_code == 200:
            try:
                choice = r.json()["choices"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                return self.method
            logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
            if not (isinstance(logprobs, dict) and logprobs.get("content")):
                self._fall_back("its answers carry no logprobs")
        return self.method

    def _body(self, text: str, method: str) -> dict:
        body = {"model": self.model, "temperature": self.temperature}
        if method == "logprobs":
            content = SCORE_PROMPT.format(text=text)
            body |= {"max_tokens": LOGPROB_MAX_TOKENS, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
        else:
            content = PROMPT.format(text=text)
            body |= {"max_tokens": self.max_tokens}
        return body | {"messages": [{"role": "user", "content": content}]}

    def _ask_once(self, text: str) -> tuple[str | None, dict]:
        """(kind of failure or None, result {"score", "reply", "method", ...} or {"error": body})."""
        import httpx

        method = self.method
        try:
            r = self._client.post(f"{self.url.rstrip('/')}/chat/completions", json=self._body(text, method))
        except httpx.TimeoutException as e:
            return "timeout", {"error": f"no answer within {self.timeout:g} s ({type(e).__name__})"}
        except httpx.HTTPError as e:
            return "connection", {"error": f"{type(e).__name__}: {e}"}
        if r.status_code >= 500 or r.status_code == 429:
            return "http_5xx", {"error": f"HTTP {r.status_code}: {r.text[:500]}"}
        if r.status_code >= 400:
            if method == "logprobs" and "logprob" in r.text.lower() and self._fall_back(f"HTTP {r.status_code}: {r.text[:200]}"):
                return self._ask_once(text)  # an endpoint that refuses logprobs: ask it for text instead
            return "http_4xx", {"error": f"HTTP {r.status_code}: {r.text[:500]}"}
        try:
            choice = r.json()["choices"][0]
            reply = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            return "non_json", {"error": f"HTTP {r.status_code}, not an OpenAI chat completion: {r.text[:500]}"}
        result = {"reply": reply, "method": method}
        if method == "logprobs":
            content = ((choice.get("logprobs") or {}).get("content")) if isinstance(choice.get("logprobs"), dict) else None
            if not content:
                if self._fall_back("its answers carry no logprobs"):
                    return self._ask_once(text)
                return "no_score", result | {"score": None, "error": "the answer carries no logprobs"}
            found = expected_score(content)
            if found is None:
                return "no_score", result | {"score": None, "prompt_sha256": SCORE_PROMPT_SHA256}
            expected, probs, position = found
            return None, result | {"score": int_score(expected), "expected_score": round(expected, 4),
                                   "score_probs": {str(d): round(p, 4) for d, p in probs.items()},
                                   "position": position, "prompt_sha256": SCORE_PROMPT_SHA256}
        score = parse_score(reply)
        return (None if score is not None else "no_score"), result | {"score": score, "prompt_sha256": PROMPT_SHA256}

    def rate(self, text: str) -> dict | None:
        """{"score" (0-5, or None when the judge gave none: an answer all the same, to be cached),
        "reply", "method", "attempts", ...}, or None when every attempt failed in transport (not
        an answer: a rerun asks again)."""
        for attempt in range(self.max_retries + 1):
            kind, result = self._ask_once(text)
            if kind is None:
                return result | {"attempts": attempt + 1}
            with self._lock:
                self.failures[kind] += 1
                self.last_error[kind] = result.get("error") or result.get("reply", "")[:500]
            if kind == "no_score" and self.temperature == 0:
                return result | {"attempts": attempt + 1}  # greedy: asking again gives the same reply
            if kind == "http_4xx":  # the request itself is refused (too long, bad model): asking again won't help
                break
            if attempt < self.max_retries:
                time.sleep(self.backoff_s * 2**attempt * (0.5 + random.random()))
        return None
