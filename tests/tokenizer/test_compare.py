"""Tokenizer comparison: metrics checked against counts made independently, and its outputs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pintsize.cli import app
from pintsize.tokenizer import load_tokenizer
from pintsize.tokenizer.compare import compare_tokenizers, write_comparison


def test_metrics_match_independent_counts(tmp_path, pints_dir, bpe_dir, docs_corpus):
    result = compare_tokenizers([pints_dir, bpe_dir], docs_corpus, max_docs_per_source=10)
    texts = {"even": [], "odd": []}
    for line in docs_corpus.read_text().splitlines():
        rec = json.loads(line)
        if len(texts[rec["source"]]) < 10:
            texts[rec["source"]].append(rec["text"])

    pints = load_tokenizer(pints_dir)
    ids = [i for t in texts["odd"] for i in pints(t, add_special_tokens=False).input_ids]
    m = result["tokenizers"]["pints"]["metrics"]["odd"]
    assert m["tokens"] == len(ids)
    assert m["chars_per_token"] == sum(map(len, texts["odd"])) / len(ids)
    assert m["tokens_per_word"] == len(ids) / sum(len(t.split()) for t in texts["odd"])
    # Mistral's byte pieces are ids 3..258 (<0x00>..<0xFF>).
    assert m["byte_fallback_rate"] == sum(3 <= i <= 258 for i in ids) / len(ids) > 0

    bpe = result["tokenizers"]["bpe"]["metrics"]
    assert bpe["odd"]["byte_fallback_rate"] == 0  # ASCII text: every byte is a whole character
    assert result["sources"]["(all)"]["documents"] == 20
    assert bpe["(all)"]["tokens"] == bpe["odd"]["tokens"] + bpe["even"]["tokens"]


def test_byte_level_fallback_counts_partial_characters(tmp_path, bpe_dir):
    corpus = tmp_path / "cjk.jsonl"
    corpus.write_text(json.dumps({"text": "漢字とかな", "source": "ja"}) + "\n")
    rate = compare_tokenizers([bpe_dir], corpus)["tokenizers"]["bpe"]["metrics"]["ja"]["byte_fallback_rate"]
    assert rate == 1.0  # a BPE trained on English docs has no piece for these characters: all bytes


def test_cli_writes_json_and_png(tmp_path, pints_dir, bpe_dir, docs_corpus):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        app, ["tokenizer", "compare", str(pints_dir), str(bpe_dir), "--corpus", str(docs_corpus), "--out", str(out), "--max-docs-per-source", "5"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "chars/token" in result.output and "pints" in result.output
    assert json.loads((out / "compare.json").read_text())["max_docs_per_source"] == 5
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_comparison_is_atomic_and_overwrites(tmp_path, bpe_dir, docs_corpus):
    result = compare_tokenizers([bpe_dir], docs_corpus, max_docs_per_source=2)
    write_comparison(result, tmp_path)
    write_comparison(result, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.json", "compare.png"]


def test_tokenizers_in_same_named_folders_are_labelled_by_their_runs(tmp_path, bpe_dir, docs_corpus):
    """Artifacts are all called `tokenizer`: the labels take the run's folder to tell them apart."""
    import shutil

    a, b = tmp_path / "runs" / "a" / "tokenizer", tmp_path / "runs" / "b" / "tokenizer"
    shutil.copytree(bpe_dir, a)
    shutil.copytree(bpe_dir, b)
    result = compare_tokenizers([a, b, a], docs_corpus, max_docs_per_source=1)
    assert list(result["tokenizers"]) == ["a/tokenizer", "b/tokenizer", "a/tokenizer'"]
