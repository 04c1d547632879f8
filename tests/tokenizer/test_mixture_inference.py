"""Mixture inference recovers a known 3-category byte mixture from a BPE trained here."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.tokenizer.mixture_inference import MixtureInferenceError, infer_mixture

SIZE = 400_000  # bytes of each category's text: half trains the tokenizer, the other half is the sample


def _categories() -> dict[str, str]:
    prose = "\n".join(d["text"] for d in pydoc_documents(limit=80))
    code = "\n".join(p.read_text(encoding="utf-8", errors="ignore") for p in sorted(Path(random.__file__).parent.glob("*.py"))[:60])
    rng = random.Random(0)
    table = "\n".join(",".join(f"{rng.randint(0, 99999)}" for _ in range(8)) + f";id{rng.randint(0, 999)}" for _ in range(40_000))
    return {k: v.encode()[:SIZE].decode(errors="ignore") for k, v in {"prose": prose, "code": code, "table": table}.items()}


def _train_bpe(texts: dict[str, str], shares: dict[str, float], budget: int, path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + 400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    mix = [texts[k].encode()[: int(shares[k] * budget)].decode(errors="ignore") for k in texts]
    tok.train_from_iterator(mix, trainer)
    tok.save(str(path))


def test_recovers_known_three_category_mixture(tmp_path):
    cats = _categories()
    truth = {"prose": 0.55, "code": 0.3, "table": 0.15}
    train = {k: v[: len(v) // 2] for k, v in cats.items()}
    sample_dirs = {}
    for k, v in cats.items():
        (tmp_path / k).mkdir()
        (tmp_path / k / "sample.txt").write_text(v[len(v) // 2:], encoding="utf-8")
        sample_dirs[k] = tmp_path / k
    _train_bpe(train, truth, budget=len(train["table"]), path=tmp_path / "tokenizer.json")
    result = infer_mixture(tmp_path / "tokenizer.json", sample_dirs, merges=300)
    got = np.array([result["proportions"][k] for k in truth])
    want = np.array(list(truth.values()))
    mse = float(np.mean((got - want) ** 2))
    uniform = float(np.mean((1 / 3 - want) ** 2))
    assert mse < 1e-3, (result["proportions"], mse)  # stated tolerance: log10 MSE below -3
    assert mse < uniform / 10


def test_not_bpe_is_one_clear_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {}}}))
    with pytest.raises(MixtureInferenceError, match="WordPiece, not BPE"):
        infer_mixture(path, {"a": tmp_path})


def test_empty_category_and_too_little_text(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MixtureInferenceError, match="matches no files"):
        infer_mixture(tmp_path / "tokenizer.json", {"x": tmp_path / "empty"})
    (tmp_path / "small.txt").write_text("ab")
    with pytest.raises(MixtureInferenceError, match="too little"):
        infer_mixture(tmp_path / "tokenizer.json", {"x": tmp_path / "small.txt"})
