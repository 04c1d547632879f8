"""`pintsize quality annotate`: an LLM judge rates a sample of documents 0-5 for educational value
(the FineWeb-Edu recipe), through any OpenAI-compatible endpoint (`pintsize serve`, vLLM,
llama.cpp's server, a hosted API).

- A reply without a score is counted and retried, never guessed.
- Failures are counted per kind (timeout, connection, http_5xx, http_4xx, non_json, no_score) and
  retried with exponential backoff; a document that exhausts its retries gets no label (a rerun
  asks again).
- Every answer is appended to `cache.jsonl` (flushed and fsynced) as it arrives, keyed by the
  document's sha256, the judge model and the prompt's hash: a killed run, rerun, asks only for
  what it has not got, and a finished artifact's cache seeds the next run.
- `labels.jsonl` holds {"text", "label", "score", ...}: `pintsize quality train --llm-labels`.

httpx rather than the `openai` client: the client folds timeouts, 5xx and bad bodies into its own
retries, and we must count each kind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pintsize.artifacts import ArtifactWriter, atomic_write_text
from pintsize.errors import DataError, PintsizeError

CACHE_FILE, LABELS_FILE = "cache.jsonl", "labels.jsonl"
KEEP_SCORE = 3  # FineWeb-Edu keeps documents its judge rates 3 or more
FAILURE_KINDS = ("timeout", "connection", "http_5xx", "http_4xx", "non_json", "no_score")

PROMPT = """Below is an extract from a document. Rate how useful it would be for teaching, from \
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

After examining the extract, justify your total score in at most 80 words, then end with a line \
of exactly this form: "Educational score: <points>"."""

PROMPT_SHA256 = hashlib.sha256(PROMPT.encode()).hexdigest()
_SCORE = re.compile(r"educational score:\s*\**\s*([0-5])(?![\d.])", re.IGNORECASE)


class JudgeUnreachable(PintsizeError):
    """The judge URL does not answer at all: stop before any work."""


def parse_score(reply: str) -> int | None:
    """The last "Educational score: N" (N in 0..5) of a reply, or None: never a guess."""
    found = _SCORE.findall(reply or "")
    return int(found[-1]) if found else None


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
    max_tokens: int = 256
    max_retries: int = 4
    backoff_s: float = 0.5
    failures: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))

    def __post_init__(self) -> None:
        import httpx

        self._client = httpx.Client(headers=_headers(self.api_key), timeout=self.timeout)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def _ask_once(self, text: str) -> tuple[str | None, str, str]:
        """(kind of failure or None, reply text, raw body)."""
        import httpx

        body = {"model": self.model, "temperature": 0.0, "max_tokens": self.max_tokens,
                "messages": [{"role": "user", "content": PROMPT.format(text=text)}]}
        try:
            r = self._client.post(f"{self.url.rstrip('/')}/chat/completions", json=body)
        except httpx.TimeoutException:
            return "timeout", "", ""
        except httpx.HTTPError:
            return "connection", "", ""
        if r.status_code >= 500 or r.status_code == 429:
            return "http_5xx", "", r.text[:2000]
        if r.status_code >= 400:
            return "http_4xx", "", r.text[:2000]
        try:
            reply = r.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            return "non_json", "", r.text[:2000]
        return (None if parse_score(reply) is not None else "no_score"), reply, ""

    def rate(self, text: str) -> dict | None:
        """{"score", "reply", "attempts"} or None after max_retries + 1 failed attempts."""
        for attempt in range(self.max_retries + 1):
            kind, reply, _raw = self._ask_once(text)
            if kind is None:
                return {"score": parse_score(reply), "reply": reply, "attempts": attempt + 1}
            with self._lock:
                self.failures[kind] += 1
            if kind == "http_4xx":  # the request itself is refused (too long, bad model): asking again won't help
                break
            if attempt < self.max_retries:
                time.sleep(self.backoff_s * 2**attempt * (0.5 + random.random()))
        return None


def _read_cache(path: Path) -> dict[str, dict]:
    """Cache lines by key; a torn last line (a kill mid-write) is ignored."""
    found: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                found[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                continue
    return found


def sample_documents(corpus: Path, n: int, max_chars: int) -> list[str]:
    """n distinct documents (their first max_chars characters), chosen by hash order: the same
    sample on every rerun, and a larger n extends a smaller one."""
    from pintsize.curate.training_texts import load_texts

    texts = {text_sha256(t[:max_chars]): t[:max_chars] for t in load_texts(corpus) if t.strip()}
    if not texts:
        raise DataError(f"{corpus}: no documents to rate")
    return [texts[k] for k in sorted(texts)[:n]]


def annotate_corpus(
    corpus: Path, out: Path, judge: Judge, *, sample: int = 500, concurrency: int = 4, max_chars: int = 3000, progress: bool = True
) -> dict:
    corpus, out = Path(corpus), Path(out)
    check_reachable(judge.url, judge.api_key)
    docs = sample_documents(corpus, sample, max_chars)
    key = lambda t: f"{text_sha256(t)}:{judge.model}:{PROMPT_SHA256}"  # noqa: E731
    config = {"judge": judge.url, "model": judge.model, "prompt_sha256": PROMPT_SHA256, "sample": sample, "max_chars": max_chars}
    writer = ArtifactWriter(out, "quality_annotate", config, inputs={"corpus": corpus})
    # Read before entering: a killed run with other settings (a different --sample) leaves a
    # partial directory the writer will wipe, and its answers were paid for.
    earlier = _read_cache(out / CACHE_FILE) | _read_cache(writer.dir / CACHE_FILE)
    with writer as art:
        cache_path = art.dir / CACHE_FILE
        cache = earlier | _read_cache(cache_path)
        todo = [t for t in docs if key(t) not in cache]
        reused = len(docs) - len(todo)
        with open(cache_path, "a") as cache_file, _progress(progress, len(todo)) as (bar, task):
            if not cache_path.stat().st_size and cache:  # carry the earlier answers into this artifact
                cache_file.write("".join(json.dumps(r) + "\n" for r in cache.values()))
            store = _Store(cache_file, cache)

            def ask(text: str) -> None:
                result = judge.rate(text)
                if result is not None:
                    store.add({"key": key(text), "sha256": text_sha256(text), "judge": judge.url, "model": judge.model,
                               "prompt_sha256": PROMPT_SHA256, **result})

            t0, completed, pending = time.monotonic(), 0, set()

            def settle(pending: set) -> set:
                nonlocal completed
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    fut.result()  # a worker's own exception (judge failures are counted, not raised) stops the run
                completed += len(finished)
                if bar is not None:
                    bar.update(task, completed=completed, rps=completed / max(time.monotonic() - t0, 1e-9))
                return pending

            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                for text in todo:
                    while len(pending) >= 2 * concurrency:  # a bounded queue, not every document at once
                        pending = settle(pending)
                    pending.add(pool.submit(ask, text))
                while pending:
                    pending = settle(pending)
        labels = [_label(text, cache[key(text)], judge) for text in docs if key(text) in cache]
        atomic_write_text(art.dir / LABELS_FILE, "".join(json.dumps(r) + "\n" for r in labels))
        scores = [r["score"] for r in labels]
        summary = {
            "documents": len(docs),
            "labeled": len(labels),
            "unlabeled": len(docs) - len(labels),
            "reused_from_cache": reused,
            "requested": len(todo),
            "failures": dict(judge.failures),
            "score_counts": {str(s): scores.count(s) for s in range(6)},
            "keep_share_at_3": round(sum(s >= KEEP_SCORE for s in scores) / len(scores), 4) if scores else None,
            "judge": judge.url, "model": judge.model, "prompt_sha256": PROMPT_SHA256,
        }
        art.stats.update(summary)
    return summary


class _Store:
    """Appends each answer to the cache file the moment it arrives, from the worker thread that got
    it: a kill loses only requests still in flight."""

    def __init__(self, file, cache: dict):
        self.file, self.cache, self.lock = file, cache, threading.Lock()

    def add(self, rec: dict) -> None:
        with self.lock:
            self.cache[rec["key"]] = rec
            self.file.write(json.dumps(rec) + "\n")
            self.file.flush()
            os.fsync(self.file.fileno())  # a label the judge was paid for survives a kill


def _label(text: str, rec: dict, judge: Judge) -> dict:
    return {"text": text, "label": int(rec["score"] >= KEEP_SCORE), "score": rec["score"], "sha256": rec["sha256"],
            "judge": rec["judge"], "model": rec["model"], "prompt_sha256": rec["prompt_sha256"], "reply": rec["reply"]}


class _progress:
    """A rich bar with ETA and requests/s (nothing when off)."""

    def __init__(self, on: bool, total: int):
        self.on, self.total = on, total

    def __enter__(self):
        if not self.on:
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("annotating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            TextColumn("{task.fields[rps]:.2f} req/s"))
        self.bar.__enter__()
        return self.bar, self.bar.add_task("annotate", total=self.total, rps=0.0)

    def __exit__(self, *exc):
        if self.on:
            self.bar.__exit__(*exc)
