"""`pintsize quality label` end to end on a real curate artifact (stdlib docs and reST pages are
expository, ShareGPT chats are not): against a fake judge that labels by the true kind, with and
without logprobs; against the review app; against `pintsize serve` on a tiny model; and its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.curate.judge import PROBE_DOCUMENT
from pintsize.curate.label_corpus import quality_step_index
from pintsize.curate.quality import QualityModel

from .fake_judge import FakeJudgeServer

MAX_CHARS = 1500
SMALL = ["--rounds", "2", "--per-round", "10", "--heldout", "20", "--max-chars", str(MAX_CHARS)]


def corpus_docs(curated) -> dict[str, dict]:
    """id -> {"text", "source"} of every document that reached the quality step, read independently of the loop."""
    docs = {}
    for sub in ("data", "rejects"):
        for part in sorted((curated / sub).glob("*.parquet")):
            t = pq.read_table(part).to_pylist()
            for r in t:
                if sub == "data" or r["step"] in ("quality", "mixture"):
                    docs.setdefault(r["id"].split("#copy")[0], {"text": r["text"], "source": r["source"]})
    return docs


@pytest.fixture
def truth(curated):
    """What a correct judge sees (the first MAX_CHARS characters) -> expository or not."""
    return {d["text"][:MAX_CHARS]: d["source"] != "chat" for d in corpus_docs(curated).values()}


def _read_labels(out):
    return [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]


def test_the_documents_are_those_that_reached_the_quality_step(curated):
    stats = json.loads((curated / "stats.json").read_text())
    reached = sum(c["docs_in"] for c in stats["steps"]["quality"].values())
    ids, sources = quality_step_index(curated)
    assert len(ids) == len(set(ids)) == reached == len(corpus_docs(curated))


@pytest.mark.parametrize("logprobs", [True, False], ids=["logprobs", "text-fallback"])
def test_the_loop_with_a_correct_judge_learns_the_corpus_and_measures_it_on_held_out_labels(curated, quality_model, truth, tmp_path, logprobs):
    judge = FakeJudgeServer(score_of=lambda doc: 4 if truth.get(doc, True) else 1, logprobs=logprobs)
    out = tmp_path / "labelled"
    try:
        result = CliRunner().invoke(app, ["quality", "label", str(curated), str(out), "--judge", judge.url, "--model", "fake", *SMALL])
        assert result.exit_code == 0, result.output + repr(result.exception)
        calls = {d: n for d, n in judge.calls.items() if d != PROBE_DOCUMENT}
        assert set(calls.values()) == {1} and len(calls) == 40  # 20 held out + 2 rounds of 10, each asked once
        asked = [b for b in judge.bodies if PROBE_DOCUMENT not in b["messages"][0]["content"]]
        assert all(bool(b.get("logprobs")) == logprobs for b in asked)
        # a rerun is paid for by the cache
        result = CliRunner().invoke(app, ["quality", "label", str(curated), str(out), "--judge", judge.url, "--model", "fake", *SMALL])
        assert result.exit_code == 0 and sum(n for d, n in judge.calls.items() if d != PROBE_DOCUMENT) == 40
    finally:
        judge.close()
    labels = _read_labels(out)
    docs = corpus_docs(curated)
    assert all(r["label"] == int(docs[r["id"]]["source"] != "chat") and r["text"] == docs[r["id"]]["text"] for r in labels)
    held = [r for r in labels if r["split"] == "heldout"]
    train = [r for r in labels if r["split"] == "train"]
    assert len(held) == 20 and len(train) == 20 and not {r["id"] for r in held} & {r["id"] for r in train}
    # the held-out sample is proportional to the sources (a stratified sample of what reached the step)
    share = {s: sum(d["source"] == s for d in docs.values()) / len(docs) for s in ("docs", "chat", "files")}
    assert all(abs(sum(r["source"] == s for r in held) - 20 * share[s]) <= 1 for s in share)
    # every training round draws from every source
    assert {r["source"] for r in train if r["round"] == 1} == {"docs", "chat", "files"}
    rounds = json.loads((out / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == [0, 1, 2] and rounds[0]["model"] == str(quality_model)
    # the figures are the held-out labels' own, recomputed here from the saved model
    model = QualityModel.load(out)
    texts = [r["text"] for r in held]
    y = np.array([r["label"] for r in held])
    scores = model.score(texts)
    op = json.loads((out / "manifest.json").read_text())["stats"]["operating_point"]
    keep = scores >= op["threshold"]
    assert op["recall"] == pytest.approx((keep & (y == 1)).sum() / (y == 1).sum(), abs=1e-4)
    assert op["other_kept"] == pytest.approx((keep & (y == 0)).sum() / (y == 0).sum(), abs=1e-4)
    assert op["auc"] >= 0.9 and op["recall"] >= 0.9 and op["other_kept"] <= 0.2
    # what `pintsize curate` reports for this model's threshold is measured on those same labels
    stored = model.operating_point(op["threshold"])
    assert stored["heldout_n"] == 20 and stored["recall"] == op["recall"] and "labels of" in model.metadata["heldout_source"]


def test_the_loop_with_the_review_app_waits_for_reviewers_then_finishes(curated, tmp_path):
    from pintsize.review.export import label_records
    from pintsize.review.labeling import save_label
    from pintsize.review.reviewers import add_reviewer
    from pintsize.review.storage import ReviewDB

    db_path, out = tmp_path / "review.sqlite", tmp_path / "labelled"
    args = ["quality", "label", str(curated), str(out), "--review-db", str(db_path), "--rounds", "1", "--per-round", "18", "--heldout", "16"]
    docs = corpus_docs(curated)
    db = ReviewDB(db_path)
    add_reviewer(db, "ann")

    def review_all():
        with db.read() as conn:
            queued = [r[0] for r in conn.execute("SELECT id FROM documents")]
        labelled = {r["id"] for r in label_records(db).records}
        for doc_id in queued:
            if doc_id not in labelled:
                good = docs[doc_id]["source"] != "chat"
                save_label(db, "ann", doc_id, int(good), 4 if good else 1)
        return len(queued)

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3 and "16 of 16 documents wait for a label" in " ".join(result.output.split())
    assert not out.exists() and review_all() == 16  # the held-out sample was queued
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3 and "round 1" in result.output and review_all() == 34
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    labels = _read_labels(out)
    assert len(labels) == 34 and all(r["origin"] == "review" and r["human"] for r in labels)


def test_pintsize_serve_as_the_judge_of_the_loop(curated, tmp_path):
    """A tiny model served by `pintsize serve` judges by logprobs; each of its labels is the one its
    expected score, recomputed by a direct forward pass, gives. (Its verdicts mean nothing, and are
    nearly all "expository": a reviewer's labels of the chats, given as a file, supply the other class.)"""
    from tests.serve.conftest import serve_in_thread, trained_bpe_tokenizer

    from pintsize.curate.judge import Judge
    from pintsize.curate.label_loop import JudgeOptions, LoopConfig, run_label_loop
    from pintsize.serve.generate import Generator
    from pintsize.serve.server import ServerSettings, create_app

    from .tiny_judge import digit_judge_model, direct_expected_score

    tok = trained_bpe_tokenizer(tmp_path / "tok", vocab_size=512)
    gen = Generator.load(digit_judge_model(tmp_path / "model", tok), device="cpu")
    out = tmp_path / "labelled"
    chats = _label_file(tmp_path / "chats.jsonl", [{"id": i, "text": d["text"], "label": 0, "reviewer": "ann"}
                                                    for i, d in corpus_docs(curated).items() if d["source"] == "chat"])
    with serve_in_thread(create_app(gen, ServerSettings(model_name="tiny", max_tokens=8, max_concurrent=4))) as base:
        judge = Judge(f"{base}/v1", "tiny", timeout=120, max_retries=0)
        judge.probe()
        run_label_loop(curated, out, LoopConfig(rounds=1, per_round=15, heldout=12), judge=judge, label_files=[chats],
                       judge_options=JudgeOptions(concurrency=4, max_chars=200, min_labelled=1.0, progress=False), report=lambda row: None)
        judge.close()
    labels = _read_labels(out)
    judged = [r for r in labels if r["origin"] == "judge"]
    assert len(labels) == 27 and {r["origin"] for r in labels} == {"judge", "file"} and {r["method"] for r in judged} == {"logprobs"}
    for r in judged:
        assert r["expected_score"] == pytest.approx(direct_expected_score(gen, r["text"][:200]), abs=1e-3)
        assert r["label"] == int(int(r["expected_score"] + 0.5) >= 3)


def _label_file(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_bad_inputs_are_one_line_errors_and_leave_nothing_finished(curated, tmp_path):
    docs = corpus_docs(curated)
    some = list(docs.items())[:12]
    out = tmp_path / "labelled"
    run = lambda *extra: CliRunner().invoke(app, ["quality", "label", str(curated), str(out), *extra])  # noqa: E731
    cases = [
        (["--labels", str(_label_file(tmp_path / "empty.jsonl", []))], "holds no label records"),
        (["--labels", str(_label_file(tmp_path / "one.jsonl", [{"id": i, "text": d["text"], "label": 1} for i, d in some]))],
         "all 12 labels say expository (1)"),
        (["--labels", str(_label_file(tmp_path / "stranger.jsonl", [{"id": "elsewhere/7", "text": "Some text here.", "label": 1}]))],
         "stranger.jsonl:1: a label for a document that is not in the corpus (id 'elsewhere/7')"),
        (["--labels", str(_label_file(tmp_path / "unknown.jsonl", [{"text": "A page nobody curated, about nothing.", "label": 0}]))],
         "a label for a document that is not in the corpus (text 'A page nobody curated"),
        ([], "give --judge URL --model NAME, or --review-db DB"),
        (["--judge", "http://127.0.0.1:9/v1"], "--judge needs --model"),
    ]
    for extra, message in cases:
        result = run(*extra)
        assert result.exit_code != 0 and message in str(result.exception), (extra, result.output, result.exception)
        assert not out.exists()
    # a label given by the start of its text (as `quality annotate` shows the judge) is matched
    i, d = some[0]
    prefix = _label_file(tmp_path / "prefix.jsonl", [{"text": d["text"][:300], "label": 1, "judge": "x"}])
    from pintsize.curate.label_sources import file_labels

    assert list(file_labels([prefix], {k: v["source"] for k, v in docs.items()}, {k: v["text"] for k, v in docs.items()})) == [i]


def test_a_failing_judge_ends_in_no_finished_artifact_and_keeps_its_answers(curated, truth, tmp_path):
    out = tmp_path / "labelled"
    broken = FakeJudgeServer(always=(502, b'{"error": {"message": "upstream model crashed"}}'))
    try:
        result = CliRunner().invoke(app, ["quality", "label", str(curated), str(out), "--judge", broken.url, "--model", "fake",
                                          "--max-retries", "0", *SMALL])
    finally:
        broken.close()
    assert result.exit_code != 0 and "upstream model crashed" in str(result.exception) and "labelled 0 of 20" in str(result.exception)
    assert not out.exists()
    dying = FakeJudgeServer(score_of=lambda doc: 4 if truth.get(doc, True) else 1, logprobs=True, die_after=1 + 15)
    try:
        result = CliRunner().invoke(app, ["quality", "label", str(curated), str(out), "--judge", dying.url, "--model", "fake",
                                          "--max-retries", "1", "--concurrency", "1", "--min-labelled", "0.9", *SMALL])
    finally:
        dying.close()
    assert result.exit_code != 0 and "labelled 15 of 20" in str(result.exception) and not out.exists()
    revived = FakeJudgeServer(score_of=lambda doc: 4 if truth.get(doc, True) else 1, logprobs=True)
    try:
        result = CliRunner().invoke(app, ["quality", "label", str(curated), str(out), "--judge", revived.url, "--model", "fake",
                                          "--min-labelled", "0.9", *SMALL])
    finally:
        revived.close()
    assert result.exit_code == 0, result.output
    assert sum(n for d, n in revived.calls.items() if d != PROBE_DOCUMENT) == 40 - 15  # the 15 answers were not paid for again


def test_from_a_recipe_to_a_model_that_curate_uses(tmp_path, monkeypatch):
    """`quality label RECIPE OUT` before any curation: the recipe's [data] is curated without the
    quality step, the run's quality-stage model is the start and its seed files are kept; then
    `[data.quality] model = OUT` curates with precision and recall measured on the corpus's labels."""
    from .realdata import pydoc_texts, sharegpt_chats

    monkeypatch.chdir(tmp_path)
    pages, chats = [p["text"][:3000] for p in pydoc_texts(40)], [c[:3000] for c in sharegpt_chats(40)]
    for name, texts in (("pos", pages[:10]), ("neg", chats[:10]), ("mix", pages[10:] + chats[10:])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    source = '[[data.sources]]\nname = "mix"\npath = "mix.jsonl"\nprofile = "docs"\n'
    (tmp_path / "r.toml").write_text('[run]\nname = "r"\n[quality_model]\npositives = ["pos.jsonl"]\nnegatives = ["neg.jsonl"]\n'
                                     + source + "[data.quality]\nthreshold = 0.5\n")
    runner = CliRunner()
    assert runner.invoke(app, ["quality", "train", "runs/r/quality", "--pos", "pos.jsonl", "--neg", "neg.jsonl"]).exit_code == 0
    expository = {t[:MAX_CHARS] for t in pages}
    judge = FakeJudgeServer(score_of=lambda doc: 4 if doc in expository or doc not in {c[:MAX_CHARS] for c in chats} else 1, logprobs=True)
    try:
        result = runner.invoke(app, ["quality", "label", "r.toml", "labelled", "--judge", judge.url, "--model", "fake", "--workers", "1",
                                     "--rounds", "1", "--per-round", "10", "--heldout", "16", "--max-chars", str(MAX_CHARS), "--keep-seeds"])
    finally:
        judge.close()
    assert result.exit_code == 0, result.output + repr(result.exception)
    out = " ".join(result.output.split())
    assert "curated without the quality step, in runs/r/curate-for-labels" in out and "start model: runs/r/quality" in out
    assert json.loads((tmp_path / "labelled/manifest.json").read_text())["stats"]["seeds_kept"] is True
    threshold = json.loads((tmp_path / "labelled/manifest.json").read_text())["stats"]["operating_point"]["threshold"]
    (tmp_path / "use.toml").write_text(f'[run]\nname = "use"\n{source}[data.quality]\nmodel = "labelled"\nthreshold = {threshold}\n')
    result = runner.invoke(app, ["curate", "use.toml", "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "quality model: labelled ([data.quality].model)" in out and "held-out labels (labels of runs/r/curate-for-labels" in out


def test_labels_you_already_have_are_enough_on_their_own(curated, tmp_path):
    docs = corpus_docs(curated)
    records = [{"id": i, "text": d["text"], "label": int(d["source"] != "chat"), "reviewer": "ann"} for i, d in docs.items()]
    out = tmp_path / "labelled"
    result = CliRunner().invoke(app, ["quality", "label", str(curated), str(out), "--labels", str(_label_file(tmp_path / "l.jsonl", records)),
                                      "--heldout", "12", "--rounds", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    labels = _read_labels(out)
    assert len(labels) == len(records) and sum(r["split"] == "heldout" for r in labels) == 12
    assert all(r["origin"] == "file" and r["human"] for r in labels)
