"""MT-Bench end to end on loopback: 80 questions x 2 turns answered by a tiny model and graded by
an OpenAI-compatible judge server; ratings parsed (a reply without one is kept and counted); every
answer and judgment saved as it comes, so a rerun after a judge outage finishes the job."""

import json

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pintsize.errors import DataError, PintsizeError
from pintsize.eval.judge import Judge, judge_messages, parse_rating
from pintsize.eval.mtbench import answer_questions, load_mtbench, run_mtbench
from pintsize.serve.generate import Generator
from pintsize.serve.server import ServerSettings, create_app


@pytest.mark.parametrize(
    "reply,rating",
    [("Rating: [[7]]", 7.0), ("[[8.5]] overall", 8.5), ("I give it [6].", 6.0), ("[[3]] then [[9]]", 3.0),
     ("Rating: 7/10", None), ("[[11]]", None), ("[[0]]", None), ("", None)],
)
def test_parse_rating(reply, rating):
    assert parse_rating(reply) == rating


def test_prompts_follow_fastchat(eval_data):
    data = load_mtbench(eval_data / "mt_bench")
    assert len(data.questions) == 80 and all(len(q["turns"]) == 2 for q in data.questions)
    math_q = next(q for q in data.questions if q["category"] == "math")
    name, msgs = judge_messages(data.prompts, math_q, ["a1", "a2"], 2, data.references[math_q["question_id"]])
    assert name == "single-math-v1-multi-turn" and data.references[math_q["question_id"]][1] in msgs[1]["content"]
    writing = next(q for q in data.questions if q["category"] == "writing")
    name, msgs = judge_messages(data.prompts, writing, ["a1", "a2"], 1, None)
    assert name == "single-v1" and msgs[1]["content"].endswith("[The Start of Assistant's Answer]\na1\n[The End of Assistant's Answer]")


def fake_judge(state: dict) -> FastAPI:
    """Rates 7, except roleplay answers (a reply with no rating) and, while state["down"], coding (503)."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        user = body["messages"][-1]["content"]
        state["calls"] += 1
        if request.headers.get("authorization") != "Bearer judge-key":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        if state["down"] and any(q in user for q in state["coding"]):
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        reply = "A fine answer, but I will not rate it." if any(q in user for q in state["roleplay"]) else "Clear and correct. Rating: [[7]]"
        return {"id": "j", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]}

    return app


@pytest.fixture(scope="module")
def mt_model(tmp_path_factory, tokenizer_dir, make_model_dir):
    return make_model_dir(tmp_path_factory.mktemp("mt") / "tiny-2k", tokenizer_dir, block_size=2048)


@pytest.fixture(scope="module")
def gen(mt_model):
    return Generator.load(mt_model, device="cpu")


def test_end_to_end_with_a_judge_outage_and_resume(gen, eval_data, tmp_path, serve_app):
    data = load_mtbench(eval_data / "mt_bench")
    by_cat = lambda c: [q["turns"][0] for q in data.questions if q["category"] == c]  # noqa: E731
    state = {"calls": 0, "down": True, "coding": by_cat("coding"), "roleplay": by_cat("roleplay")}
    out = tmp_path / "mt"
    with serve_app(fake_judge(state)) as url:
        judge = Judge(f"{url}/v1", "fake-judge", "judge-key", max_retries=0)
        with pytest.raises(PintsizeError, match=r"20 judgments failed .* run the same command again"):
            run_mtbench(gen, judge, eval_data / "mt_bench", out, max_new_tokens=4, parallel=4)
        answers = (out / "answers.jsonl").read_bytes()
        assert len(answers.splitlines()) == 80
        assert len((out / "judgments.jsonl").read_text().splitlines()) == 140
        partial = json.loads((out / "results.json").read_text())
        assert partial["judged"] == 140

        state["down"], calls_before = False, state["calls"]
        results = run_mtbench(gen, judge, eval_data / "mt_bench", out, max_new_tokens=4, parallel=4)
        assert state["calls"] - calls_before == 20  # only the failed ones were asked again
        assert (out / "answers.jsonl").read_bytes() == answers  # no answer generated twice

        again = run_mtbench(gen, judge, eval_data / "mt_bench", out, max_new_tokens=4, parallel=4, retry_unscored=True)
    assert results["judged"] == 160 and results["scored"] == 140 and results["unscored"] == 20
    assert results["score"] == 7.0 and results["turn1"] == results["turn2"] == 7.0
    assert results["categories"]["roleplay"] == {"turn1": None, "turn2": None, "score": None, "scored": 0, "unscored": 20}
    assert results["categories"]["math"]["score"] == 7.0
    judgments = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]
    unscored = [j for j in judgments if j["score"] is None]
    assert unscored and all(j["error"] == "no rating [[1-10]] in the judge's reply" and j["category"] == "roleplay" for j in unscored)
    assert again["unscored"] == 20 and len(judgments) == 160 + 20  # retried, still unrated, appended


def test_judge_with_a_wrong_key_stops_the_run(gen, eval_data, tmp_path, serve_app):
    state = {"calls": 0, "down": False, "coding": [], "roleplay": []}
    with serve_app(fake_judge(state)) as url:
        judge = Judge(f"{url}/v1", "fake-judge", "wrong", max_retries=0)
        with pytest.raises(PintsizeError, match=r"judge fake-judge at http://127.0.0.1:\d+/v1: .*401"):
            run_mtbench(gen, judge, eval_data / "mt_bench", tmp_path / "mt", max_new_tokens=2, limit=1)
    assert (tmp_path / "mt" / "answers.jsonl").is_file()  # the answers made are kept


def test_pintsize_serve_as_the_judge(gen, eval_data, tmp_path, tokenizer_dir, serve_app, make_model_dir):
    judge_model = Generator.load(make_model_dir(tmp_path / "judge", tokenizer_dir, seed=1, block_size=4096), device="cpu")
    with serve_app(create_app(judge_model, ServerSettings(model_name="judge", max_tokens=16))) as url:
        results = run_mtbench(gen, Judge(f"{url}/v1", "judge", None, max_tokens=16), eval_data / "mt_bench", tmp_path / "mt",
                              max_new_tokens=4, limit=2, min_scored=0.0)  # a random judge rarely writes [[N]]
    assert results["judged"] == 4 and results["scored"] + results["unscored"] == 4
    for line in (tmp_path / "mt" / "judgments.jsonl").read_text().splitlines():
        j = json.loads(line)
        assert (j["score"] is None) == (j["error"] is not None) and j["judge"] == "judge"


def test_a_run_with_too_few_rated_judgments_fails_and_says_why(mt_model, eval_data, tmp_path, serve_app):
    """0 of 8 judgments rated is a failed evaluation, not a score: `eval mtbench` exits non-zero
    with one line quoting the judge's reply (it exited 0 with an empty table)."""
    from typer.testing import CliRunner

    from pintsize.cli import app

    state = {"calls": 0, "down": False, "coding": [], "roleplay": [q["turns"][0] for q in load_mtbench(eval_data / "mt_bench").questions]}
    out = tmp_path / "mt"
    with serve_app(fake_judge(state)) as url:
        args = ["eval", "mtbench", str(mt_model), "--judge-url", f"{url}/v1", "--judge-model", "fake-judge", "--judge-key-env", "MT_KEY",
                "--out", str(out), "--data-dir", str(eval_data), "--limit", "4", "--max-new-tokens", "2", "--device", "cpu"]
        result = CliRunner().invoke(app, args, env={"MT_KEY": "judge-key"})
        assert isinstance(result.exception, PintsizeError) and result.exit_code != 0  # main() prints it as one line, exit 2
        message = str(result.exception)
        assert message.startswith("only 0 of 8 judgments have a rating (at least 50% needed): question ")
        assert "no rating [[1-10]] in the judge's reply (it began: \"A fine answer, but I will not rate it.\")" in message
        assert "\n" not in message and json.loads((out / "results.json").read_text())["unscored"] == 8  # kept for a retry

        state["roleplay"] = state["roleplay"][2:]  # now the judge rates both turns of questions 1 and 2: 4 of 8 is enough
        result = CliRunner().invoke(app, [*args, "--retry-unscored"], env={"MT_KEY": "judge-key"})
        assert result.exit_code == 0, result.output
        assert "only" not in result.output


def test_malformed_question_file_names_its_line(eval_data, tmp_path):
    bad = tmp_path / "mt_bench"
    (bad / "reference_answer").mkdir(parents=True)
    for f in ("judge_prompts.jsonl", "reference_answer/gpt-4.jsonl"):
        (bad / f).write_bytes((eval_data / "mt_bench" / f).read_bytes())
    lines = (eval_data / "mt_bench" / "question.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"turns"', '"turnz"')
    (bad / "question.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"question.jsonl:3: field 'turns' must be a list"):
        load_mtbench(bad)


def test_answers_decoded_together_equal_answers_made_one_by_one(gen, eval_data, tmp_path):
    data = load_mtbench(eval_data / "mt_bench")
    picked = [next(q for q in data.questions if q["category"] == c) for c in ("writing", "math", "stem", "coding")]
    data.questions = picked  # sampled (0.7, 0.1) and greedy categories, both turns
    answers = {}
    for batch in (1, 4):
        log = tmp_path / f"answers-{batch}.jsonl"
        assert answer_questions(gen, data, log, max_new_tokens=12, batch=batch) == 4
        answers[batch] = {r["question_id"]: r["turns"] for r in map(json.loads, log.read_text().splitlines())}
    assert answers[4] == answers[1] and len(answers[1]) == 4
    assert all(len(turns) == 2 and all(turns) for turns in answers[1].values())
