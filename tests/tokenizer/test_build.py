"""The tokenizer stage: dispatch on [tokenizer] kind, loading from artifacts, CLI, clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pintsize.artifacts import read_manifest
from pintsize.cli import app
from pintsize.errors import PintsizeError
from pintsize.tokenizer import TokenizerInfo, build_tokenizer, load_tokenizer
from pintsize.tokenizer.config import TokenizerConfig


def test_kind_path_copies_a_checked_tokenizer(tmp_path, bpe_dir):
    out = build_tokenizer(TokenizerConfig(kind="path", path=str(bpe_dir)), None, tmp_path / "tok")
    assert read_manifest(out)["stats"]["vocab_size"] == 1024
    assert load_tokenizer(out)("hello").input_ids == load_tokenizer(bpe_dir)("hello").input_ids


def test_kind_train_needs_a_corpus_and_kind_path_a_path(tmp_path):
    with pytest.raises(PintsizeError, match="needs a corpus"):
        build_tokenizer(TokenizerConfig(kind="train"), None, tmp_path / "t")
    with pytest.raises(PintsizeError, match="needs path"):
        build_tokenizer(TokenizerConfig(kind="path"), None, tmp_path / "t")


def test_kind_train_builds_from_a_corpus(tmp_path, docs_corpus):
    out = build_tokenizer(TokenizerConfig(kind="train", vocab_size=512), docs_corpus, tmp_path / "t")
    info = TokenizerInfo.read(out)
    assert (info.vocab_size, info.bos_id, info.eos_id) == (512, 1, 2)


def test_a_model_artifacts_tokenizer_subdirectory_is_found(tmp_path, bpe_dir):
    model = tmp_path / "model"
    (model / "tokenizer").mkdir(parents=True)
    for f in bpe_dir.iterdir():
        (model / "tokenizer" / f.name).write_bytes(f.read_bytes())
    assert len(load_tokenizer(model)) == 1024
    with pytest.raises(PintsizeError, match=f"{tmp_path}: not a tokenizer"):
        load_tokenizer(tmp_path)


def test_a_tokenizer_without_eos_is_refused(tmp_path, bpe_dir):
    (tmp_path / "tokenizer.json").write_bytes((bpe_dir / "tokenizer.json").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>"}))
    with pytest.raises(PintsizeError, match="needs a BOS and an EOS"):
        TokenizerInfo.read(tmp_path)


def test_cli_pints_and_train(tmp_path, docs_corpus):
    runner = CliRunner()
    result = runner.invoke(app, ["tokenizer", "pints", str(tmp_path / "pints")])
    assert result.exit_code == 0 and "32,064 tokens, BOS 1, EOS 2, PAD 32001" in " ".join(result.output.split())
    result = runner.invoke(app, ["tokenizer", "train", str(docs_corpus), str(tmp_path / "bpe"), "--vocab", "700"])
    assert result.exit_code == 0 and "704 tokens, BOS 1, EOS 2" in " ".join(result.output.split())
