"""Asking a judge about many documents: concurrently, each answer cached the moment it arrives.

The cache (`cache.jsonl`, appended, flushed and fsynced) is keyed by the document's sha256, the
judge's model and the prompts' hash. A run that is killed, or whose judge fails or dies halfway,
loses only the requests in flight; a rerun asks only for what it has not got. An answer without a
score (a greedy judge that gave none) is an answer too: cached, with its reply, never paid twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from pintsize.curate.judge import JUDGE_SHA256, Judge
from pintsize.errors import PintsizeError

CACHE_FILE = "cache.jsonl"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(text: str, judge: Judge) -> str:
    return f"{text_sha256(text)}:{judge.model}:{JUDGE_SHA256}"


def read_cache(path: Path) -> dict[str, dict]:
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


class JudgeCache:
    """The answers so far (`cache`), appended to `path` as they arrive. `earlier` answers (from a
    finished artifact, or a partial one about to be wiped) are carried into the file once."""

    def __init__(self, path: Path, earlier: dict[str, dict] | None = None):
        self.path = Path(path)
        self.cache = (earlier or {}) | read_cache(self.path)
        self.lock = threading.Lock()
        self.file = open(self.path, "a")
        if not self.path.stat().st_size and self.cache:
            self.file.write("".join(json.dumps(r) + "\n" for r in self.cache.values()))
            self._sync()

    def _sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())  # an answer the judge was paid for survives a kill

    def add(self, rec: dict) -> None:
        with self.lock:
            self.cache[rec["key"]] = rec
            self.file.write(json.dumps(rec) + "\n")
            self._sync()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "JudgeCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ask_all(judge: Judge, texts: list[str], cache: JudgeCache, *, concurrency: int = 4, progress: bool = True,
            label: str = "judging") -> dict:
    """Ask the judge about every text not in the cache yet. Returns {"requested", "reused_from_cache"}."""
    keys = {cache_key(t, judge): t for t in texts}
    todo = [t for k, t in keys.items() if k not in cache.cache]
    stats = {"requested": len(todo), "reused_from_cache": len(keys) - len(todo)}

    def ask(text: str) -> None:
        result = judge.rate(text)
        if result is not None:
            cache.add({"key": cache_key(text, judge), "sha256": text_sha256(text), "judge": judge.url, "model": judge.model, **result})

    with _progress(progress, len(todo), label) as (bar, task):
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
    return stats


class JudgeFailed(PintsizeError):
    """The judge labelled too little: the run stops without a finished artifact (its answers stay cached)."""


def check_labelled(judge: Judge, labelled: int, asked: int, min_share: float, unscored: list[dict], where: str, cache: Path) -> None:
    """Raise JudgeFailed, saying why and quoting the judge, when fewer than `min_share` of `asked`
    documents got a score."""
    if asked and labelled >= min_share * asked and labelled > 0:
        return
    why = []
    failed = {k: n for k, n in judge.failures.items() if n and k != "no_score"}
    if failed:
        kinds = ", ".join(f"{k}: {n}" for k, n in failed.items())
        last = next(reversed([k for k in judge.last_error if k in failed]), None)
        why.append(f"failed requests ({kinds}); the judge's last error: {judge.last_error.get(last, '')[:300]!r}")
    if unscored:
        why.append(f"{len(unscored)} answers had no score, e.g. {unscored[0].get('reply', '')[:200]!r}")
    raise JudgeFailed(
        f"{where}: the judge {judge.model!r} at {judge.url} labelled {labelled} of {asked} documents, below the "
        f"required share {min_share:g}: {'; '.join(why) or 'no answers'}. Its answers so far are kept in {cache} "
        "(a rerun asks only for the rest)."
    )


class _progress:
    """A rich bar with ETA and requests/s (nothing when off)."""

    def __init__(self, on: bool, total: int, label: str):
        self.on, self.total, self.label = on, total, label

    def __enter__(self):
        if not self.on:
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            TextColumn("{task.fields[rps]:.2f} req/s"))
        self.bar.__enter__()
        return self.bar, self.bar.add_task(self.label, total=self.total, rps=0.0)

    def __exit__(self, *exc):
        if self.on:
            self.bar.__exit__(*exc)
