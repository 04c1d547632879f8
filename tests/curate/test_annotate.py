"""`pintsize quality annotate` against a scripted fake judge on 127.0.0.1 (every failure kind,
resume after a kill) and against `pintsize serve` running a tiny random model."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.curate.annotate import Judge, JudgeUnreachable, annotate_corpus, parse_score, text_sha256
from pintsize.curate.quality import read_label_file


def test_parse_score_reads_the_last_marked_score_and_never_guesses():
    assert parse_score("Good.\nEducational score: 4") == 4
    assert parse_score("Educational score: 2 ... on reflection\nEducational score: **3**") == 3
    for reply in ("", "I would give it a 4.", "Educational score: 7", "Educational score: 3.5", "score 4/5"):
        assert parse_score(reply) is None, reply


class FakeJudge(BaseHTTPRequestHandler):
    """Each document's first request fails in a way chosen by a word in it; the retry answers.
    A document containing 'NEVER' never gets a score. Every request is logged by document."""

    calls: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"data": []}')

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        doc = body["messages"][0]["content"].split("<document>\n", 1)[1].split("\n</document>", 1)[0]
        with self.lock:
            n = self.calls[doc] = self.calls.get(doc, 0) + 1
        kind = next((k for k in ("FIVEHUNDRED", "NOTJSON", "NOSCORE", "SLOW", "NEVER") if k in doc), None)
        if kind == "SLOW" and n == 1:
            threading.Event().wait(1.0)  # the client's timeout is 0.3 s
        if kind == "FIVEHUNDRED" and n == 1:
            return self._send(500, b"internal error")
        if kind == "NOTJSON" and n == 1:
            return self._send(200, b"<html>proxy error</html>")
        reply = "Nice prose." if kind == "NEVER" or (kind == "NOSCORE" and n == 1) else f"Teaches.\nEducational score: {len(doc) % 6}"
        self._send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode())

    def _send(self, status: int, data: bytes):
        try:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def fake_judge():
    FakeJudge.calls = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _corpus(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


DOCS = [f"Document {i} explains topic {i} in a few words." for i in range(12)] + [
    "This one FIVEHUNDRED first.", "This one NOTJSON first.", "This one NOSCORE first.", "This one SLOW first.", "This one NEVER scores.",
]


def test_every_failure_kind_is_counted_retried_and_never_guessed(fake_judge, tmp_path):
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS)
    judge = Judge(fake_judge, "fake", timeout=0.3, max_retries=2, backoff_s=0.01)
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=100, concurrency=4, progress=True)  # the bar runs too
    assert s["documents"] == 17 and s["labeled"] == 16 and s["unlabeled"] == 1
    f = s["failures"]
    assert (f["http_5xx"], f["non_json"], f["timeout"]) == (1, 1, 1)
    assert f["no_score"] == 1 + 3  # NOSCORE once, NEVER on all three attempts
    labels = {r["text"]: r for r in read_label_file(tmp_path / "ann" / "labels.jsonl")}
    assert "This one NEVER scores." not in labels  # no score, no label: never guessed
    for text, r in labels.items():
        assert r["score"] == len(text) % 6 and r["label"] == int(len(text) % 6 >= 3)
        assert r["sha256"] == text_sha256(text) and r["model"] == "fake" and "Educational score" in r["reply"]
    assert json.loads((tmp_path / "ann" / "manifest.json").read_text())["stats"]["prompt_sha256"] == labels[DOCS[0]]["prompt_sha256"]


def test_a_killed_run_resumes_without_paying_twice(fake_judge, tmp_path):
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS[:12])
    judge = Judge(fake_judge, "fake", timeout=5, max_retries=0, backoff_s=0.0)
    real_rate, seen = judge.rate, []

    def rate_then_die(text):
        if len(seen) >= 5:
            raise KeyboardInterrupt  # the kill, after 5 answers were written
        seen.append(text)
        return real_rate(text)

    judge.rate = rate_then_die
    with pytest.raises(KeyboardInterrupt):
        annotate_corpus(corpus, tmp_path / "ann", judge, sample=12, concurrency=1, progress=False)
    assert not (tmp_path / "ann").exists() and sum(FakeJudge.calls.values()) == 5
    judge.rate = real_rate
    # Rerun with other settings (sample 11, so the partial directory is not resumed as is).
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=11, concurrency=3, progress=False)
    assert s["labeled"] == 11 and s["requested"] == 11 - s["reused_from_cache"] and s["reused_from_cache"] >= 4
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=12, concurrency=3, progress=False)
    assert s["labeled"] == 12 and s["requested"] <= 1
    assert sorted(FakeJudge.calls.values()) == [1] * 12  # each document asked exactly once in all
    # A finished artifact's cache seeds a bigger sample: only the new documents are asked.
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS[:12] + [f"Extra page {i} about things." for i in range(3)])
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=15, concurrency=3, progress=False)
    assert s["requested"] == 3 and s["labeled"] == 15 and sorted(FakeJudge.calls.values()) == [1] * 15


def test_an_unreachable_judge_is_one_line_before_any_work(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS[:3])
    with pytest.raises(JudgeUnreachable, match=f"judge http://127.0.0.1:{port}/v1: not reachable"):
        annotate_corpus(corpus, tmp_path / "ann", Judge(f"http://127.0.0.1:{port}/v1", "x"), progress=False)
    assert not (tmp_path / "ann").exists() and not (tmp_path / "ann.partial").exists()
    result = CliRunner().invoke(app, ["quality", "annotate", str(corpus), str(tmp_path / "ann"), "--judge", f"http://127.0.0.1:{port}/v1", "--model", "x"])
    assert result.exit_code != 0 and "not reachable" in result.output + str(result.exception)


def test_llm_labels_rank_between_human_and_seed_labels(fake_judge, tmp_path):
    from .realdata import pydoc_texts, sharegpt_chats

    docs = [p["text"][:2000] for p in pydoc_texts(20)]
    chats = [c[:2000] for c in sharegpt_chats(20)]
    pos, neg = _corpus(tmp_path / "pos.jsonl", docs), _corpus(tmp_path / "neg.jsonl", chats)
    llm = _corpus(tmp_path / "llm.jsonl", [])
    llm.write_text("".join(json.dumps({"text": t, "label": 0, "score": 1}) + "\n" for t in docs[:4]))
    human = tmp_path / "human.jsonl"
    human.write_text("".join(json.dumps({"text": t, "label": 1}) + "\n" for t in docs[:2]))
    out = tmp_path / "m"
    args = ["quality", "train", str(out), "--pos", str(pos), "--neg", str(neg), "--labels", str(human), "--llm-labels", str(llm)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ex = json.loads((out / "quality_model.json").read_text())["examples"]
    # 2 of the LLM's 4 negatives are overruled by a human; the other 2 overrule the seed files.
    assert ex["llm_labels_overridden"] == 2 and ex["seed_labels_overridden"] == 2
    assert ex["positive"] == 18 and ex["negative"] == 22


def test_pintsize_serve_as_the_judge(tmp_path):
    """A tiny random model replies badly: its unscored replies are counted and retried, nothing
    crashes, and whatever it does score is a label with its raw reply."""
    from tests.serve.conftest import random_model_dir, serve_in_thread, trained_bpe_tokenizer

    from pintsize.serve.generate import Generator
    from pintsize.serve.server import ServerSettings, create_app

    tok = trained_bpe_tokenizer(tmp_path / "tok", vocab_size=512)
    model_dir = random_model_dir(tmp_path / "model", tok, block_size=1024)  # the prompt is ~900 tokens
    gen = Generator.load(model_dir, device="cpu")
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS[:4])
    with serve_in_thread(create_app(gen, ServerSettings(model_name="tiny", max_tokens=16, max_concurrent=2))) as base:
        judge = Judge(f"{base}/v1", "tiny", timeout=60, max_retries=1, backoff_s=0.01, max_tokens=16)
        s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=4, concurrency=2, max_chars=200, progress=False)
        judge.close()
    assert s["documents"] == 4 and s["labeled"] + s["unlabeled"] == 4
    # max_retries=1: an unlabeled document failed both attempts, a labeled one at most its first.
    assert 2 * s["unlabeled"] <= s["failures"]["no_score"] <= 2 * s["unlabeled"] + s["labeled"]
    assert s["failures"]["timeout"] == 0
    assert s["failures"]["http_5xx"] == s["failures"]["non_json"] == s["failures"]["connection"] == 0

