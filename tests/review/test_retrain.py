"""Labels feed the classifier: reviewers label in the app, `review export` writes the labels,
`quality train` retrains on them with the seed examples, and the new model's scores move the
way the labels point. Then the new model drives the next near-threshold queue and the learning curve."""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pintsize.cli import app as cli
from pintsize.curate import quality
from pintsize.review.app import create_app
from pintsize.review.config import QueueConfig
from pintsize.review.enqueue import MODEL_SCORE, enqueue
from pintsize.review.reviewers import add_reviewer
from pintsize.review.stats import stored_learning_curve
from pintsize.review.storage import ReviewDB

runner = CliRunner()
OVERRULED = 15  # per source: documents where the reviewers disagree with the seed examples


def run(*args) -> str:
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_jsonl(path, records):
    path.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory, seed_examples):
    """(positives, negatives) JSONL files and the classifier trained on them alone."""
    tmp = tmp_path_factory.mktemp("seed")
    pos, neg = write_jsonl(tmp / "pos.jsonl", seed_examples[0]), write_jsonl(tmp / "neg.jsonl", seed_examples[1])
    run("quality", "train", tmp / "model", "--pos", pos, "--neg", neg)
    return pos, neg, tmp / "model"


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, corpus, real_records):
    """Every corpus document labelled through the API. Reviewers follow the seed's idea (docs
    good, chat bad) except on the first OVERRULED documents of each source, where they accept
    the chat and reject the documentation."""
    db = ReviewDB(tmp_path_factory.mktemp("reviewed") / "review.sqlite")
    enqueue(db, corpus, QueueConfig(strategy="random", size=len(real_records), double_fraction=0.0))
    client = TestClient(create_app(db))
    client.headers["Authorization"] = f"Bearer {add_reviewer(db, 'alice')}"
    by_source: dict[str, list[str]] = {}
    for r in real_records:
        by_source.setdefault(r["source"], []).append(r["id"])
    overruled = {d: 0 for d in by_source["python-docs"][:OVERRULED]} | {d: 1 for d in by_source["sharegpt"][:OVERRULED]}
    while (doc := client.get("/api/next").json()["document"]) is not None:
        label = overruled.get(doc["id"], int(doc["source"] == "python-docs"))
        body = {"doc_id": doc["id"], "decision": "accept" if label else "reject", "educational_value": 4 * label}
        assert client.post("/api/labels", json=body).status_code == 200
    return db, overruled


def test_exported_labels_move_the_retrained_classifier_their_way(tmp_path, reviewed, seed_files, real_records):
    db, overruled = reviewed
    pos, neg, seed_model = seed_files
    labels = tmp_path / "labels.jsonl"
    run("review", "export", labels, "--db", db.path)
    records = [json.loads(line) for line in labels.read_text().splitlines()]
    assert len(records) == len(real_records)
    assert {r["id"]: r["label"] for r in records if r["id"] in overruled} == overruled

    run("quality", "train", tmp_path / "new-model", "--pos", pos, "--neg", neg, "--labels", labels)
    before = quality.QualityModel.load(seed_model)
    after = quality.QualityModel.load(tmp_path / "new-model")

    text = {r["id"]: r["text"] for r in real_records}
    for label in (1, 0):
        ids = [d for d, lab in overruled.items() if lab == label]
        shift = after.score([text[d] for d in ids]) - before.score([text[d] for d in ids])
        toward_label = shift if label == 1 else -shift
        assert np.mean(toward_label) > 0.2, (label, shift)
        assert np.all(toward_label > 0), (label, shift)


def test_near_threshold_queue_from_a_quality_model(tmp_path, corpus, seed_files, real_records):
    """Active learning: a (re)trained model picks the documents it is least sure about."""
    model = seed_files[2]
    db_path = tmp_path / "review.sqlite"
    run("review", "queue", corpus, "--db", db_path, "--strategy", "threshold", "--size", "6", "--threshold", "0.5", "--quality-model", model)
    with ReviewDB(db_path).read() as conn:
        queued = [json.loads(r["scores"])[MODEL_SCORE] for r in conn.execute("SELECT scores FROM documents ORDER BY position")]
    every_score = quality.QualityModel.load(model).score([r["text"] for r in real_records])
    nearest = every_score[np.argsort(np.abs(every_score - 0.5), kind="stable")[:6]]
    assert queued == pytest.approx(nearest.tolist())


def test_learning_curve_is_stored_for_the_stats_page(tmp_path, reviewed):
    db, _ = reviewed
    output = run("review", "curve", "--db", db.path, "--points", "2", "--test-fraction", "0.3")
    curve = stored_learning_curve(db)
    assert [p["n_labels"] for p in curve] == sorted(p["n_labels"] for p in curve) and len(curve) >= 2
    assert len({p["n_test"] for p in curve}) == 1 and curve[0]["n_test"] > 0
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in curve)
    assert str(curve[-1]["n_labels"]) in output
    client = TestClient(create_app(db))
    client.headers["Authorization"] = f"Bearer {add_reviewer(db, 'viewer')}"
    assert client.get("/api/stats").json()["learning_curve"] == curve


def test_near_threshold_queue_from_the_builtin_model(tmp_path, corpus, real_records):
    """`--quality-model builtin:expository` scores with the package's model and the audit log
    names it as given (a resolved path of it would name a missing file in the working directory)."""
    db_path = tmp_path / "review.sqlite"
    run("review", "queue", corpus, "--db", db_path, "--strategy", "threshold", "--size", "4", "--threshold", "0.5",
        "--quality-model", "builtin:expository")
    with ReviewDB(db_path).read() as conn:
        queued = [json.loads(r["scores"])[MODEL_SCORE] for r in conn.execute("SELECT scores FROM documents ORDER BY position")]
        entry = json.loads(conn.execute("SELECT new FROM audit WHERE action = 'queue-added'").fetchone()[0])
    every_score = quality.QualityModel.load("builtin:expository").score([r["text"] for r in real_records])
    assert queued == pytest.approx(every_score[np.argsort(np.abs(every_score - 0.5), kind="stable")[:4]].tolist())
    assert entry["quality_model"] == "builtin:expository"
