import json
import sqlite3

import pytest
from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.errors import PintsizeError
from pintsize.review.labeling import next_document, save_label
from pintsize.review.reviewers import hash_secret
from pintsize.review.storage import ReviewDB

runner = CliRunner()
COMMANDS = ["serve", "queue", "add-reviewer", "reviewers", "revoke", "export", "stats", "audit", "curve"]


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def invoke(*args):
    return runner.invoke(app, ["review", *map(str, args)], catch_exceptions=True, env={"COLUMNS": "250"})


def test_every_command_has_help():
    result = invoke("--help")
    for command in COMMANDS:
        assert command in result.output
        help_text = invoke(command, "--help").output
        assert "Usage" in help_text and len(help_text.split("Options")[0]) > 80  # a description, not just usage


def test_add_reviewer_prints_a_token_and_stores_only_its_hash(tmp_path):
    db_path = tmp_path / "r.sqlite"
    result = invoke("add-reviewer", "alice", "--db", db_path)
    assert result.exit_code == 0
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT token_hash FROM reviewers").fetchall() == [(hash_secret(token),)]
    assert token.encode() not in db_path.read_bytes()

    again = invoke("add-reviewer", "alice", "--db", db_path)
    assert isinstance(again.exception, PintsizeError) and "already exists" in str(again.exception)
    bad = invoke("add-reviewer", "../../etc", "--db", db_path)
    assert isinstance(bad.exception, PintsizeError) and "reviewer name" in str(bad.exception)

    assert invoke("revoke", "alice", "--db", db_path).exit_code == 0
    assert "revoked" in invoke("reviewers", "--db", db_path).output


def test_queue_export_and_stats(tmp_path, corpus):
    db_path = tmp_path / "r.sqlite"
    result = invoke("queue", corpus, "--db", db_path, "--strategy", "threshold", "--size", "12", "--threshold", "0.4")
    assert result.exit_code == 0, result.output
    assert "added 12 documents" in flat(result.output)
    db = ReviewDB(db_path)
    invoke("add-reviewer", "alice", "--db", db_path)
    sources = set()
    for _ in range(5):
        doc = next_document(db, "alice", 15)
        save_label(db, "alice", doc["id"], 1, 4)
        sources.add(doc["source"])
    out = tmp_path / "labels.jsonl"
    result = invoke("export", out, "--db", db_path)
    assert result.exit_code == 0 and "5 records (5 accept, 0 reject)" in flat(result.output)
    assert [json.loads(line)["label"] for line in out.read_text().splitlines()] == [1] * 5
    table = invoke("stats", "--db", db_path).output
    assert all(source in table for source in sources)
    log = flat(invoke("audit", "--db", db_path, "--reviewer", "alice", "--limit", "3").output)
    assert log.count("│ label │") == 3 and '"educational_value": 4' in log


@pytest.mark.parametrize(
    "args, message",
    [
        (["queue", "{corpus}", "--strategy", "best"], "'best' is not one of"),
        (["queue", "{corpus}", "--double-fraction", "2"], "'--double-fraction': 2 must be at most 1"),
        (["export", "{tmp}/x.jsonl", "--mode", "some"], "'some' is not one of"),
    ],
)
def test_bad_options_are_named(tmp_path, corpus, args, message):
    args = [a.format(corpus=corpus, tmp=tmp_path) for a in args]
    result = invoke(*args, "--db", tmp_path / "r.sqlite")
    assert result.exit_code == 2 and message in flat(result.output)


def test_missing_database_and_corpus_are_clear_errors(tmp_path):
    result = invoke("export", tmp_path / "x.jsonl", "--db", tmp_path / "missing.sqlite")
    assert isinstance(result.exception, PintsizeError) and "no review database" in str(result.exception)
    result = invoke("queue", tmp_path / "nowhere", "--db", tmp_path / "r.sqlite")
    assert isinstance(result.exception, PintsizeError) and "not a corpus directory" in str(result.exception)
    (tmp_path / "junk.sqlite").write_text("this is not a database, it is text" * 100)
    result = invoke("reviewers", "--db", tmp_path / "junk.sqlite")
    assert isinstance(result.exception, PintsizeError) and "not a review database" in str(result.exception)
