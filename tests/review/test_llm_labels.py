"""LLM judge labels in the review app: imported by text hash (annotate's key), shown with each
document (None, not 0, where the judge did not rate it), and compared with each reviewer."""

import json

import pytest
from fastapi.testclient import TestClient

from pintsize.artifacts import ArtifactWriter
from pintsize.curate.annotate import text_sha256
from pintsize.errors import DataError
from pintsize.review.app import WEB_DIR, create_app
from pintsize.review.labeling import save_label
from pintsize.review.llm_labels import import_llm_labels, judge_agreement, judged_documents

MAX_CHARS = 200  # shorter than every queued text: matching must hash the same cut annotate does


def write_annotation(out, records, extra_lines=()):
    with ArtifactWriter(out, "quality_annotate", {"model": "judge-x", "max_chars": MAX_CHARS}) as art:
        lines = [json.dumps(r) for r in records] + list(extra_lines)
        (art.dir / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return out


def annotation_record(text, score):
    cut = text[:MAX_CHARS]
    return {"text": cut, "label": int(score >= 3), "score": score, "sha256": text_sha256(cut), "judge": "http://judge",
            "model": "judge-x", "prompt_sha256": "p" * 64, "reply": f"Educational score: {score}"}


def queued(db):
    with db.read() as conn:
        return [(r["id"], r["text"]) for r in conn.execute("SELECT id, text FROM documents ORDER BY position")]


def test_scores_reach_the_document_api_and_unrated_documents_show_none(db, tokens, tmp_path):
    docs = queued(db)
    assert all(len(text) > MAX_CHARS for _, text in docs)
    rated = {doc_id: i % 6 for i, (doc_id, _) in enumerate(docs) if i % 2 == 0}
    records = [annotation_record(text, rated[doc_id]) for doc_id, text in docs if doc_id in rated]
    records.append(annotation_record("a document that is not in the review queue " * 10, 4))
    annotation = write_annotation(tmp_path / "annotation", records, ["not json", json.dumps({"text": "x", "score": 9})])

    result = import_llm_labels(db, annotation)
    assert (result.records, result.matched, result.unmatched) == (len(rated) + 1, len(rated), 1)
    assert result.broken == {"not JSON": 1, "score is not an integer 0-5": 1}

    client, auth = TestClient(create_app(db)), {"Authorization": f"Bearer {tokens['alice']}"}
    seen = {}
    while (doc := client.get("/api/next", headers=auth).json()["document"]) is not None:
        seen[doc["id"]] = doc["llm"]
        assert client.post("/api/skip", headers=auth, json={"doc_id": doc["id"]}).status_code == 200
    assert set(seen) == {doc_id for doc_id, _ in docs}
    for doc_id, llm in seen.items():
        if doc_id in rated:
            assert llm == {"score": rated[doc_id], "label": int(rated[doc_id] >= 3), "model": "judge-x"}
        else:
            assert llm is None  # no label, not a score of 0
    assert 0 in rated.values()  # and a real 0 is kept as 0
    # the page has a place for the score and its script fills it from `doc.llm`
    assert 'id="doc-llm"' in (WEB_DIR / "review.html").read_text()
    assert "doc.llm" in client.get("/static/review.js").text

    # a new import replaces the old one whole: documents it does not rate lose their score
    first_rated = next(iter(rated))
    again = write_annotation(tmp_path / "again", [annotation_record(dict(docs)[first_rated], 5)])
    assert import_llm_labels(db, again).matched == 1
    assert judged_documents(db) == 1


# Hand-computed: human accept [0,1,0,1] vs judge score>=3 [0,1,1,1]: observed 3/4, chance
# 0.5*0.75 + 0.5*0.25 = 0.5, kappa 0.5. Human values [0,5,1,5] vs judge [0,5,5,5], quadratic
# weights (i-j)^2/25: observed 16/25 = 0.64, expected 0.75 + 0.01 + 0.48 + 0.5 = 1.74,
# kappa 1 - 0.64/1.74 = 55/87.
HUMAN = [(0, 0), (1, 5), (0, 1), (1, 5)]
JUDGE = [0, 5, 5, 5]


def test_judge_agreement_matches_hand_computed_kappa(db, tokens, tmp_path):
    docs = queued(db)
    annotation = write_annotation(tmp_path / "annotation", [annotation_record(text, s) for (_, text), s in zip(docs, JUDGE)])
    import_llm_labels(db, annotation)
    for (doc_id, _), (label, value) in zip(docs, HUMAN):
        save_label(db, "alice", doc_id, label, value)
    save_label(db, "alice", docs[10][0], 1, 4)  # the judge did not rate this one: it does not count
    save_label(db, "bob", docs[0][0], 0, 0)  # one answer throughout: kappa undefined

    rows = {a["reviewers"][0]: a for a in judge_agreement(db)}
    assert rows["alice"]["reviewers"] == ["alice", "llm"]
    assert rows["alice"]["documents"] == 4 and rows["alice"]["agreement"] == pytest.approx(0.75)
    assert rows["alice"]["kappa"] == pytest.approx(0.5)
    assert rows["alice"]["educational_kappa"] == pytest.approx(55 / 87)
    assert rows["bob"]["documents"] == 1 and rows["bob"]["kappa"] is None

    stats = TestClient(create_app(db)).get("/api/stats", headers={"Authorization": f"Bearer {tokens['bob']}"}).json()
    assert stats["llm_documents"] == 4
    assert [a["reviewers"] for a in stats["llm_agreement"]] == [["alice", "llm"], ["bob", "llm"]]


def test_no_import_means_no_llm_fields_filled(db, tokens):
    assert judge_agreement(db) == []
    doc = TestClient(create_app(db)).get("/api/next", headers={"Authorization": f"Bearer {tokens['alice']}"}).json()["document"]
    assert doc["llm"] is None


def test_a_directory_without_labels_is_one_clear_error(db, tmp_path):
    with pytest.raises(DataError, match="no labels.jsonl"):
        import_llm_labels(db, tmp_path)


def test_serve_imports_the_labels_and_stats_prints_the_judge_rows(db, tokens, tmp_path, corpus, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from pintsize.cli import app

    docs = queued(db)
    annotation = write_annotation(tmp_path / "annotation", [annotation_record(text, s) for (_, text), s in zip(docs, JUDGE)])
    for (doc_id, _), (label, value) in zip(docs, HUMAN):
        save_label(db, "alice", doc_id, label, value)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # everything serve does but listen
    runner, env = CliRunner(), {"COLUMNS": "250"}
    served = runner.invoke(app, ["review", "serve", str(corpus), "--db", str(db.path), "--llm-labels", str(annotation)], env=env)
    assert served.exit_code == 0, served.output
    assert "4 queued documents matched, 0 of 4 records not in the queue" in " ".join(served.output.split())
    printed = runner.invoke(app, ["review", "stats", "--db", str(db.path)], env=env)
    row = next(line for line in printed.output.splitlines() if "alice · llm" in line)
    assert "0.500" in row and "0.632" in row and "75%" in row
