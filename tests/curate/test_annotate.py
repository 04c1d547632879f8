"""`pintsize quality annotate` against a scripted fake judge on 127.0.0.1 (every failure kind,
resume after a kill) and against `pintsize serve` running a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.curate.annotate import Judge, JudgeUnreachable, annotate_corpus, parse_score, text_sha256
from pintsize.curate.judge import PROBE_DOCUMENT
from pintsize.curate.quality import read_label_file

from .fake_judge import FakeJudgeServer


def test_parse_score_reads_the_last_marked_score_and_never_guesses():
    assert parse_score("Good.\nEducational score: 4") == 4
    assert parse_score("Educational score: 2 ... on reflection\nEducational score: **3**") == 3
    for reply in ("", "I would give it a 4.", "Educational score: 7", "Educational score: 3.5", "score 4/5"):
        assert parse_score(reply) is None, reply


@pytest.fixture
def fake_judge():
    """A text-only judge (it offers no logprobs), as the first OpenAI-compatible servers were."""
    judge = FakeJudgeServer()
    FakeJudge.calls = judge.calls
    yield judge.url
    judge.close()


class FakeJudge:  # the calls of the running fake, by document
    calls: dict[str, int] = {}

    @classmethod
    def doc_calls(cls) -> dict[str, int]:
        """Calls about the corpus's documents (not the one-line probe for logprobs)."""
        return {d: n for d, n in cls.calls.items() if d != PROBE_DOCUMENT}


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
    assert s["documents"] == 17 and s["labeled"] == 15 and s["unlabeled"] == 2
    f = s["failures"]
    assert (f["http_5xx"], f["non_json"], f["timeout"]) == (1, 1, 1)
    # A greedy judge's reply without a score is not asked again: NOSCORE and NEVER once each.
    assert f["no_score"] == 2 and FakeJudge.calls["This one NOSCORE first."] == FakeJudge.calls["This one NEVER scores."] == 1
    labels = {r["text"]: r for r in read_label_file(tmp_path / "ann" / "labels.jsonl")}
    assert "This one NEVER scores." not in labels and "This one NOSCORE first." not in labels  # no score, no label: never guessed
    for text, r in labels.items():
        assert r["score"] == len(text) % 6 and r["label"] == int(len(text) % 6 >= 3)
        assert r["sha256"] == text_sha256(text) and r["model"] == "fake" and "Educational score" in r["reply"]
    stats = json.loads((tmp_path / "ann" / "manifest.json").read_text())["stats"]
    assert stats["no_score_replies"] == ["Nice prose.", "Nice prose."] and stats["judge_errors"]["http_5xx"].startswith("HTTP 500")


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
    assert not (tmp_path / "ann").exists() and sum(FakeJudge.doc_calls().values()) == 5
    judge.rate = real_rate
    # Rerun with other settings (sample 11, so the partial directory is not resumed as is).
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=11, concurrency=3, progress=False)
    assert s["labeled"] == 11 and s["requested"] == 11 - s["reused_from_cache"] and s["reused_from_cache"] >= 4
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=12, concurrency=3, progress=False)
    assert s["labeled"] == 12 and s["requested"] <= 1
    assert sorted(FakeJudge.doc_calls().values()) == [1] * 12  # each document asked exactly once in all
    # A finished artifact's cache seeds a bigger sample: only the new documents are asked.
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS[:12] + [f"Extra page {i} about things." for i in range(3)])
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=15, concurrency=3, progress=False)
    assert s["requested"] == 3 and s["labeled"] == 15 and sorted(FakeJudge.doc_calls().values()) == [1] * 15


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


def test_pintsize_serve_as_the_judge_by_logprobs(tmp_path):
    """`pintsize serve` gives logprobs, so annotate reads each score from them: every document gets
    the expected score a direct forward pass of the model gives, and none fails to parse."""
    from tests.serve.conftest import serve_in_thread, trained_bpe_tokenizer

    from pintsize.serve.generate import Generator
    from pintsize.serve.server import ServerSettings, create_app

    from .tiny_judge import digit_judge_model, direct_expected_score

    tok = trained_bpe_tokenizer(tmp_path / "tok", vocab_size=512)
    gen = Generator.load(digit_judge_model(tmp_path / "model", tok), device="cpu")
    docs = [f"Document {i}: " + " ".join(["the json module encodes data"] * (i + 1)) for i in range(5)]
    corpus = _corpus(tmp_path / "docs.jsonl", docs)
    with serve_in_thread(create_app(gen, ServerSettings(model_name="tiny", max_tokens=16, max_concurrent=2))) as base:
        judge = Judge(f"{base}/v1", "tiny", timeout=60, max_retries=1, backoff_s=0.01)
        s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=5, concurrency=2, max_chars=300, progress=False)
        judge.close()
    assert s["scoring"] == "logprobs" and s["labeled"] == 5 and sum(s["failures"].values()) == 0
    for r in read_label_file(tmp_path / "ann" / "labels.jsonl"):
        expected = direct_expected_score(gen, r["text"])
        assert r["method"] == "logprobs" and r["expected_score"] == pytest.approx(expected, abs=1e-3)
        assert r["score"] == int(expected + 0.5) and r["label"] == int(r["score"] >= 3)


def test_a_greedy_judges_reply_without_a_score_is_cached_with_its_reply_and_not_asked_again(fake_judge, tmp_path):
    corpus = _corpus(tmp_path / "docs.jsonl", DOCS[:6] + ["This one NEVER scores."])
    judge = Judge(fake_judge, "fake", max_retries=3, backoff_s=0.0)
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=7, concurrency=2, progress=False)
    assert s["labeled"] == 6 and FakeJudge.calls["This one NEVER scores."] == 1  # temperature 0: the same reply again
    cached = [json.loads(line) for line in (tmp_path / "ann" / "cache.jsonl").read_text().splitlines()]
    assert [c["reply"] for c in cached if c["score"] is None] == ["Nice prose."]
    s = annotate_corpus(corpus, tmp_path / "ann", judge, sample=7, concurrency=2, progress=False)
    assert s["requested"] == 0 and FakeJudge.calls["This one NEVER scores."] == 1  # the rerun pays for nothing


def test_a_run_that_labels_nothing_exits_non_zero_says_why_and_leaves_no_finished_artifact(fake_judge, tmp_path):
    corpus = _corpus(tmp_path / "docs.jsonl", ["Doc one NEVER scores.", "Doc two NEVER scores.", "Doc three NEVER scores."])
    out = tmp_path / "ann"
    result = CliRunner().invoke(app, ["quality", "annotate", str(corpus), str(out), "--judge", fake_judge, "--model", "fake", "--max-retries", "1"])
    assert result.exit_code != 0
    message = result.output + str(result.exception)
    assert "labelled 0 of 3" in message and "Nice prose." in message  # the judge's reply, quoted
    assert not out.exists() and not (out / "labels.jsonl").exists()


def test_quality_train_refuses_an_empty_llm_label_file_and_warns_when_its_labels_add_nothing(tmp_path):
    from .realdata import pydoc_texts, sharegpt_chats

    docs = [p["text"][:2000] for p in pydoc_texts(12)]
    pos = _corpus(tmp_path / "pos.jsonl", docs)
    neg = _corpus(tmp_path / "neg.jsonl", [c[:2000] for c in sharegpt_chats(12)])
    empty = tmp_path / "labels.jsonl"
    empty.write_text("")  # what an annotation that labelled nothing used to leave
    args = ["quality", "train", str(tmp_path / "m"), "--pos", str(pos), "--neg", str(neg)]
    result = CliRunner().invoke(app, args + ["--llm-labels", str(empty)])
    assert result.exit_code != 0 and "holds no label" in str(result.exception) and not (tmp_path / "m").exists()
    llm = _corpus(tmp_path / "llm.jsonl", [])
    llm.write_text("".join(json.dumps({"text": t, "label": 0, "score": 1}) + "\n" for t in docs[:3]))
    human = tmp_path / "human.jsonl"
    human.write_text("".join(json.dumps({"text": t, "label": 1}) + "\n" for t in docs[:3]))
    result = CliRunner().invoke(app, args + ["--llm-labels", str(llm), "--labels", str(human)])
    assert result.exit_code == 0, result.output
    assert "warning: --llm-labels: the 3 LLM labels add no label" in result.output
