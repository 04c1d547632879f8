"""`pintsize pack` on the command line: a table of what was packed, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from pintsize.cli import app


def test_pack_command_prints_counts(tmp_path, corpus, bpe):
    result = CliRunner().invoke(app, ["pack", str(corpus), str(tmp_path / "out"), "--tokenizer", str(bpe), "--val-fraction", "0.05", "--workers", "2"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "input records 200 = kept 200 + empty 0 + quarantined 0" in " ".join(result.output.split())
    assert "val" in result.output and "manual" in result.output
    assert (tmp_path / "out" / "meta.json").is_file()


def test_pack_errors_are_one_line(tmp_path, bpe, write_jsonl):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"body": "no text"}])
    proc = subprocess.run(
        [sys.executable, "-m", "pintsize", "pack", str(bad), str(tmp_path / "out"), "--tokenizer", str(bpe)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "1000"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}:line 1: no 'text' field" in proc.stderr
