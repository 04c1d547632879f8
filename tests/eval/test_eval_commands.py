"""The `pintsize eval` commands: tables on the terminal, JSON on request, clear errors."""

import json

from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.errors import DataError

runner = CliRunner()


def test_perplexity_command_prints_and_saves(model_dir, tmp_path):
    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps({"text": d["text"][:800]}) + "\n" for d in pydoc_documents(limit=2)))
    result = runner.invoke(app, ["eval", "perplexity", str(model_dir), str(held), "--device", "cpu", "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    assert "bits per byte" in result.stdout
    assert json.loads((tmp_path / "p.json").read_text())["records"]["kept"] == 2


def test_passkey_command(model_dir, tmp_path):
    result = runner.invoke(app, ["eval", "passkey", str(model_dir), "--length", "150,200", "--trials", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "150" in result.stdout and "200" in result.stdout


def test_harness_lists_its_presets():
    result = runner.invoke(app, ["eval", "harness", "--list"])  # no model needed
    assert result.exit_code == 0 and "leaderboard-v1" in result.stdout and "pintsize_hellaswag" in result.stdout


def test_bad_eval_data_is_a_clear_error(model_dir, tmp_path):
    (tmp_path / "hellaswag").mkdir()
    (tmp_path / "hellaswag" / "val.jsonl").write_text('{"ctx": "a", "endings": ["b"], "label": 0}\n{oops\n')
    result = runner.invoke(app, ["eval", "harness", str(model_dir), "-t", "pintsize_hellaswag", "--data-dir", str(tmp_path), "--device", "cpu"])
    assert isinstance(result.exception, DataError)  # `pintsize` prints it as one line (tests/test_cli.py)
    assert f"{tmp_path}/hellaswag/val.jsonl:2: not valid JSON" in str(result.exception)


def test_harness_prints_the_standard_error(bpe_model_dir):
    """The stderr column held N/A for every metric (bootstrap_iters=0 turned lm-eval's off)."""
    import re

    result = runner.invoke(app, ["eval", "harness", str(bpe_model_dir), "-t", "pintsize_hellaswag_mini", "--limit", "12", "--device", "cpu"],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "acc" in line]
    assert len(rows) == 2 and all(re.search(r"0\.\d{4}\s+│\s+0\.\d{4}", row) for row in rows), result.stdout
