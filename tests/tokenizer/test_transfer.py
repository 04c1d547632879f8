"""`pintsize tokenizer transfer` on tiny models: shared rows bit-identical, FVT means, FOCUS's
sparsemax, tied and untied heads, ChatML tokens, and the transferred model loads and generates."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pintsize.errors import PintsizeError
from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import ModelConfig
from pintsize.model.llama import Llama
from pintsize.tokenizer.focus import focus_weights, sparsemax
from pintsize.tokenizer.transfer import TransferConfig, transfer_tokenizer


def _backend(path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json"))


@pytest.fixture(scope="module")
def new_tok(tmp_path_factory, docs_corpus):
    """A second BPE, smaller and trained on half the documents: different ids, many shared tokens."""
    from pintsize.tokenizer.train import train_tokenizer

    half = tmp_path_factory.mktemp("c") / "half.jsonl"
    half.write_text("".join(l for i, l in enumerate(docs_corpus.read_text().splitlines(True)) if i % 2))
    return train_tokenizer(half, tmp_path_factory.mktemp("tok") / "new", vocab_size=700)


def _tiny_model(tmp_path, tok_dir, tie: bool):
    torch.manual_seed(0)
    cfg = ModelConfig(name="t", vocab_size=_backend(tok_dir).get_vocab_size(), n_layer=1, d_model=32, n_head=2,
                      n_kv_head=2, d_ff=64, block_size=64, tie_embeddings=tie)
    return save_model(Llama(cfg), cfg, tmp_path / f"model-{tie}", tokenizer_dir=tok_dir)


@pytest.mark.parametrize("tie", [True, False])
def test_shared_rows_bit_identical_and_mean_is_fvt(tmp_path, bpe_dir, new_tok, tie):
    model = _tiny_model(tmp_path, bpe_dir, tie)
    counts = transfer_tokenizer(model, new_tok, tmp_path / "out", TransferConfig(init="mean"))
    old, new = _backend(bpe_dir), _backend(new_tok)
    before, after = load_file(str(model / "model.safetensors")), load_file(str(tmp_path / "out/model.safetensors"))
    keys = ["tok_emb.weight"] + ([] if tie else ["lm_head.weight"])
    assert ("lm_head.weight" in after) == (not tie)
    old_vocab = old.get_vocab()
    shared = [(n_id, old_vocab[t]) for t, n_id in new.get_vocab().items() if t in old_vocab]
    assert counts["shared"] == len(shared) > 300 and counts["mean"] > 0
    for k in keys:
        for n_id, o_id in shared:
            assert torch.equal(after[k][n_id], before[k][o_id])
    # FVT by hand: the old tokenizer's encoding of each new token's text, averaged.
    checked = 0
    for t, n_id in new.get_vocab().items():
        text = new.decode([n_id])
        if t in old_vocab or "\ufffd" in text or new.get_added_tokens_decoder().get(n_id) is not None:
            continue
        ids = old.encode(text, add_special_tokens=False).ids
        for k in keys:
            torch.testing.assert_close(after[k][n_id], before[k][ids].mean(0), rtol=0, atol=1e-6)
        checked += 1
    assert checked > 10


def test_sparsemax_hand_computed_and_sparse():
    np.testing.assert_allclose(sparsemax(np.array([1.0, 0.5, -1.0])), [0.75, 0.25, 0.0])
    w = sparsemax(np.random.default_rng(0).normal(size=200) * 3)
    assert abs(w.sum() - 1) < 1e-12 and (w >= 0).all() and 0 < (w > 0).sum() < 20
    w = focus_weights(np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(w, [1.0, 0.0, 0.0], atol=1e-9)


def test_focus_rows_are_sparse_mixes_of_shared_rows(tmp_path, bpe_dir, new_tok, docs_corpus):
    model = _tiny_model(tmp_path, bpe_dir, False)
    counts = transfer_tokenizer(model, new_tok, tmp_path / "out", TransferConfig(init="focus", max_docs=30), corpus=docs_corpus)
    assert counts["focus"] > 0
    old, new = _backend(bpe_dir), _backend(new_tok)
    before, after = load_file(str(model / "model.safetensors")), load_file(str(tmp_path / "out/model.safetensors"))
    shared_old = [old.get_vocab()[t] for t in new.get_vocab() if t in old.get_vocab()]
    shared_rows = before["tok_emb.weight"][shared_old]
    lo, hi = shared_rows.min(0).values, shared_rows.max(0).values
    new_only = [i for t, i in new.get_vocab().items() if t not in old.get_vocab() and i not in new.get_added_tokens_decoder()]
    # a convex combination stays inside the shared rows' bounding box, coordinate by coordinate
    inside = [bool(((after["tok_emb.weight"][i] >= lo - 1e-6) & (after["tok_emb.weight"][i] <= hi + 1e-6)).all()) for i in new_only]
    assert sum(inside) >= counts["focus"]


def test_focus_too_small_corpus_is_one_line_and_fallback_is_asked_for(tmp_path, bpe_dir, new_tok, capsys):
    model = _tiny_model(tmp_path, bpe_dir, True)
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"text": "a few words only"}) + "\n")
    with pytest.raises(PintsizeError, match=r"small.jsonl: the target corpus has \d+ tokens under the new tokenizer: too few to train static embeddings.*--fallback mean\|random \(\[adapt\]\.fallback in a recipe\)"):
        transfer_tokenizer(model, new_tok, tmp_path / "out", TransferConfig(init="focus"), corpus=small)
    capsys.readouterr()
    counts = transfer_tokenizer(model, new_tok, tmp_path / "out", TransferConfig(init="focus", fallback="mean"), corpus=small)
    assert counts["focus"] == 0 and counts["mean"] > 0
    assert "falling back to mean as asked" in capsys.readouterr().out  # and it says so


def test_missing_chat_token_is_named(tmp_path, bpe_dir, new_tok):
    model = _tiny_model(tmp_path, bpe_dir, True)
    broken = tmp_path / "broken"
    shutil.copytree(new_tok, broken)
    p = broken / "tokenizer.json"
    p.write_text(p.read_text().replace("<|im_start|>", "<|im_begin|>"))
    with pytest.raises(PintsizeError, match=r"lacks the chat/special tokens .*: <\|im_start\|>"):
        transfer_tokenizer(model, broken, tmp_path / "out", TransferConfig())


def test_transferred_model_loads_chats_and_generates(tmp_path, bpe_dir, new_tok):
    from pintsize.serve.generate import generate_tokens
    from pintsize.serve.sampling import SamplingParams
    from pintsize.tokenizer.load import load_tokenizer

    model = _tiny_model(tmp_path, bpe_dir, False)
    transfer_tokenizer(model, new_tok, tmp_path / "out", TransferConfig(init="random"))
    m = load_model(tmp_path / "out").eval()
    tok = load_tokenizer(tmp_path / "out")
    assert m.config.vocab_size == len(tok)
    ids = tok.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert tok.convert_tokens_to_ids("<|im_start|>") in ids
    out = list(generate_tokens(m, list(ids), SamplingParams(max_new_tokens=5), len(tok)))
    assert len(out) == 5 and all(0 <= t < len(tok) for t in out)


def test_model_smaller_than_its_tokenizer_is_one_line(tmp_path, bpe_dir, new_tok):
    cfg = ModelConfig(name="t", vocab_size=64, n_layer=1, d_model=32, n_head=2, n_kv_head=2, d_ff=64, block_size=64)
    model = save_model(Llama(cfg), cfg, tmp_path / "m", tokenizer_dir=bpe_dir)
    with pytest.raises(PintsizeError, match=r"the tokenizer has 1024 tokens but the model has 64 embedding rows"):
        transfer_tokenizer(model, new_tok, tmp_path / "out", TransferConfig())
