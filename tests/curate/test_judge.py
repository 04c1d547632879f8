"""The judge's score: the expected value of its next-token distribution over "0".."5" when the
endpoint gives logprobs (hand-computed distributions), parsing its reply when it does not; and what
a judge that fails does to a run: nothing lost, nothing paid twice, never a finished empty artifact."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.curate.annotate import annotate_corpus
from pintsize.curate.judge import PROBE_DOCUMENT, TOP_LOGPROBS, Judge, expected_score, int_score
from pintsize.curate.judging import JudgeFailed
from pintsize.curate.quality import read_label_file

from .fake_judge import FakeJudgeServer, expected_of


def _top(*pairs):
    return [{"token": t, "logprob": math.log(p)} for t, p in pairs]


def test_expected_value_of_a_hand_computed_distribution():
    # P: "3" 0.5, "4" 0.25, " 2" 0.125 (a spaced digit counts), "The" 0.125 (not a digit: left out)
    content = [{"token": "3", "top_logprobs": _top(("3", 0.5), ("4", 0.25), (" 2", 0.125), ("The", 0.125))}]
    value, probs, position = expected_score(content)
    assert value == pytest.approx((3 * 0.5 + 4 * 0.25 + 2 * 0.125) / 0.875) and position == 0  # 3.142857
    assert probs == pytest.approx({2: 0.125 / 0.875, 3: 0.5 / 0.875, 4: 0.25 / 0.875})
    assert int_score(value) == 3 and int_score(2.5) == 3 and int_score(2.49) == 2 and int_score(7.0) == 5  # FineWeb-Edu's rounding


def test_the_position_read_is_where_the_judge_answers():
    content = [
        {"token": "Score", "top_logprobs": _top(("Score", 0.95), ("1", 0.05))},
        {"token": ":", "top_logprobs": _top((":", 0.99), ("5", 0.01))},
        {"token": " 4", "top_logprobs": _top((" 4", 0.8), (" 5", 0.2))},
    ]
    assert expected_score(content)[0] == pytest.approx(4.2) and expected_score(content)[2] == 2  # the first likely digit
    # "The list holds 5 ...": the first token carried the answer's odds (>= 10% on digits), not the "5" written later
    sentence = [
        {"token": "The", "top_logprobs": _top(("The", 0.6), ("1", 0.15), ("2", 0.05))},
        {"token": " list", "top_logprobs": _top((" list", 0.9),)},
        {"token": " 5", "top_logprobs": _top((" 5", 0.7), (" 4", 0.1))},
    ]
    assert expected_score(sentence)[0] == pytest.approx((0.15 + 2 * 0.05) / 0.2) and expected_score(sentence)[2] == 0
    # no likely digit and none written: the position where the digits are likeliest
    content[2] = {"token": "!", "top_logprobs": _top(("!", 0.97), ("0", 0.03))}
    assert expected_score(content)[0] == pytest.approx(1.0) and expected_score(content)[2] == 0
    assert expected_score([{"token": "x", "top_logprobs": _top(("x", 1.0))}]) is None  # no digit anywhere: no score


def _corpus(path, texts):
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


DOCS = [f"Page {i} explains the topic number {i} with care." for i in range(8)]


def test_a_judge_with_logprobs_is_read_by_expected_value(tmp_path):
    judge_server = FakeJudgeServer(logprobs=True)
    try:
        judge = Judge(judge_server.url, "fake", max_retries=0)
        s = annotate_corpus(_corpus(tmp_path / "d.jsonl", DOCS), tmp_path / "ann", judge, sample=8, progress=False)
    finally:
        judge_server.close()
    assert s["scoring"] == "logprobs" and s["labeled"] == 8 and s["requested"] == 8
    asked = [b for b in judge_server.bodies if PROBE_DOCUMENT not in b["messages"][0]["content"]]
    assert len(asked) == 8 and all(b["logprobs"] is True and b["top_logprobs"] == TOP_LOGPROBS and b["temperature"] == 0 for b in asked)
    for r in read_label_file(tmp_path / "ann" / "labels.jsonl"):
        e = expected_of(len(r["text"]) % 6)
        assert r["expected_score"] == pytest.approx(e, abs=1e-4) and r["score"] == int_score(e) and r["label"] == int(int_score(e) >= 3)


@pytest.mark.parametrize("refuse", [False, True], ids=["ignores-logprobs", "refuses-logprobs"])
def test_a_judge_without_logprobs_is_parsed_and_no_document_is_asked_twice(tmp_path, refuse):
    judge_server = FakeJudgeServer(logprobs=False, refuse_logprobs=refuse)
    try:
        judge = Judge(judge_server.url, "fake", max_retries=0)
        s = annotate_corpus(_corpus(tmp_path / "d.jsonl", DOCS), tmp_path / "ann", judge, sample=8, concurrency=4, progress=False)
    finally:
        judge_server.close()
    assert s["scoring"] == "text" and s["labeled"] == 8 and s["fallback_reason"]
    assert {d: n for d, n in judge_server.calls.items() if d != PROBE_DOCUMENT} == {d: 1 for d in DOCS}  # the probe decided once
    assert all(r["score"] == len(r["text"]) % 6 and r["method"] == "text" for r in read_label_file(tmp_path / "ann" / "labels.jsonl"))


def test_a_judge_that_dies_mid_run_loses_nothing_and_the_rerun_pays_only_for_the_rest(tmp_path):
    corpus = _corpus(tmp_path / "d.jsonl", DOCS)
    dying = FakeJudgeServer(logprobs=True, die_after=1 + 3)  # the probe, then 3 documents
    judge = Judge(dying.url, "fake", max_retries=1, backoff_s=0.01, timeout=5)
    with pytest.raises(JudgeFailed, match=r"labelled 3 of 8 documents.*connection") as failed:
        annotate_corpus(corpus, tmp_path / "ann", judge, sample=8, concurrency=1, progress=False)
    assert "ann.partial/cache.jsonl" in str(failed.value)
    assert not (tmp_path / "ann").exists()  # never a "finished" artifact
    assert len((tmp_path / "ann.partial" / "cache.jsonl").read_text().splitlines()) == 3
    revived = FakeJudgeServer(logprobs=True)
    try:
        s = annotate_corpus(corpus, tmp_path / "ann", Judge(revived.url, "fake"), sample=8, concurrency=2, progress=False)
    finally:
        revived.close()
    assert s["labeled"] == 8 and s["reused_from_cache"] == 3 and s["requested"] == 5
    assert sum(n for d, n in revived.calls.items() if d != PROBE_DOCUMENT) == 5


def test_garbage_and_5xx_answers_fail_the_run_quoting_the_judge(tmp_path):
    corpus = _corpus(tmp_path / "d.jsonl", DOCS[:3])
    for always, kind, quote in (
        ((503, b'{"error": {"message": "model is overloaded"}}'), "http_5xx", "model is overloaded"),
        ((200, b"<html>gateway</html>"), "non_json", "<html>gateway</html>"),
    ):
        server = FakeJudgeServer(always=always)
        try:
            result = CliRunner().invoke(app, ["quality", "annotate", str(corpus), str(tmp_path / kind), "--judge", server.url,
                                              "--model", "fake", "--max-retries", "1", "--timeout", "5"])
        finally:
            server.close()
        assert result.exit_code != 0 and isinstance(result.exception, JudgeFailed)
        message = str(result.exception)
        assert "labelled 0 of 3" in message and kind in message and quote in message
        assert not (tmp_path / kind).exists()
