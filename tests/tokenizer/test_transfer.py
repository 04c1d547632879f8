"""`pintsize tokenizer transfer` on tiny models: shared rows bit-identical, FVT means, FOCUS's
sparsemax over fastText vectors (FVT means for tokens without one), tied and untied heads, ChatML
tokens, special rows that never win, and the transferred model loads and generates."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pintsize.errors import PintsizeError
from pintsize.model.checkpoint import load_model, save_model
from pintsize.model.config import ModelConfig
from pintsize.model.llama import Llama
from pintsize.tokenizer.focus import MIN_COUNT, focus_weights, sparsemax, train_static_embeddings
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


@pytest.fixture(scope="module")
def bpe_no_reserved(tmp_path_factory, bpe_dir):
    """The old BPE without the reserved block (as SmolLM2 has none of ours): the new tokenizer's
    <|reserved_N|> tokens are then new to the model."""
    d = tmp_path_factory.mktemp("tok") / "no-reserved"
    shutil.copytree(bpe_dir, d)
    for f in ("tokenizer.json", "special_tokens_map.json"):
        (d / f).write_text((d / f).read_text().replace("<|reserved_", "<|spare_"))
    return d


FOCUS = TransferConfig(init="focus", max_docs=30, static_buckets=20_000)  # a small corpus: few n-gram buckets suffice
CODE = ["json/decoder.py", "json/encoder.py", "textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "argparse.py", "csv.py",
        "difflib.py", "pprint.py"]


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    """A BPE trained on stdlib Python source (a domain the docs BPE has seen little: many new tokens),
    and a corpus of part of that source for FOCUS (so that some new tokens are rare in it)."""
    import sysconfig

    from pintsize.tokenizer.train import train_tokenizer

    d = tmp_path_factory.mktemp("code")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines = [json.dumps({"text": (stdlib / f).read_text()}) + "\n" for f in CODE]
    (d / "all.jsonl").write_text("".join(lines))
    (d / "corpus.jsonl").write_text("".join(lines[:6]))
    return train_tokenizer(d / "all.jsonl", d / "tok", vocab_size=700), d / "corpus.jsonl"


def _tiny_model(tmp_path, tok_dir, tie: bool, block_scale: float = 1.0):
    torch.manual_seed(0)
    cfg = ModelConfig(name="t", vocab_size=_backend(tok_dir).get_vocab_size(), n_layer=1, d_model=32, n_head=2,
                      n_kv_head=2, d_ff=64, block_size=64, tie_embeddings=tie)
    model = Llama(cfg)
    with torch.no_grad():
        for p in model.blocks.parameters():
            p.mul_(block_scale)
    return save_model(model, cfg, tmp_path / f"model-{tie}", tokenizer_dir=tok_dir)


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


def _sparsemax_by_bisection(z: np.ndarray) -> np.ndarray:
    """Sparsemax as its definition: the tau with sum(max(z - tau, 0)) = 1, found by bisection."""
    lo, hi = z.max() - 1, z.max()
    for _ in range(200):
        tau = (lo + hi) / 2
        lo, hi = (tau, hi) if np.maximum(z - tau, 0).sum() > 1 else (lo, tau)
    return np.maximum(z - (lo + hi) / 2, 0)


def test_focus_mixes_shared_rows_by_sparsemax_and_rare_tokens_get_the_fvt_mean(tmp_path, bpe_dir, code):
    new_tok, corpus = code
    model = _tiny_model(tmp_path, bpe_dir, False)
    counts = transfer_tokenizer(model, new_tok, tmp_path / "out", FOCUS, corpus=corpus)
    old, new = _backend(bpe_dir), _backend(new_tok)
    before, after = load_file(str(model / "model.safetensors")), load_file(str(tmp_path / "out/model.safetensors"))
    texts = [json.loads(l)["text"] for l in corpus.read_text().splitlines()]
    docs = [e.tokens for e in new.encode_batch(texts, add_special_tokens=False)]
    seen = Counter(t for d in docs for t in d)
    old_vocab, added = old.get_vocab(), set(new.get_added_tokens_decoder())
    shared = {t: i for t, i in new.get_vocab().items() if t in old_vocab and i not in added}
    new_only = {t: i for t, i in new.get_vocab().items() if t not in old_vocab and i not in added}
    frequent = {t for t, n in seen.items() if n >= MIN_COUNT}  # the tokens that get an auxiliary vector
    assert counts["focus"] == len(frequent & set(new_only)) > 50
    assert counts["mean"] == len(set(new_only) - frequent) > 10
    for k in ("tok_emb.weight", "lm_head.weight"):
        # shared rows are kept bit for bit; a token seen fewer than minCount times gets FVT's mean exactly
        assert all(torch.equal(after[k][i], before[k][old_vocab[t]]) for t, i in shared.items())
        rare = [i for t, i in new_only.items() if t not in frequent and "\ufffd" not in new.decode([i])]
        assert len(rare) > 5
        for i in rare:
            pieces = old.encode(new.decode([i]), add_special_tokens=False).ids
            torch.testing.assert_close(after[k][i], before[k][pieces].mean(0), rtol=0, atol=1e-6)
    # a frequent token's row: sparsemax over cosines to the frequent shared tokens, mixing their old rows
    wv = train_static_embeddings(docs, 100, 3, 0, buckets=FOCUS.static_buckets)  # the same vectors (one worker, one seed)
    support = sorted((t for t in shared if t in frequent), key=shared.get)
    vecs = np.stack([wv[t] for t in support]).astype(np.float64)
    for t in sorted(frequent & set(new_only))[:20]:
        v = wv[t].astype(np.float64)
        w = _sparsemax_by_bisection(vecs @ v / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(v)))
        assert abs(w.sum() - 1) < 1e-9 and (w == 0).any()
        expect = torch.from_numpy(w).float() @ before["lm_head.weight"][[old_vocab[s] for s in support]]
        torch.testing.assert_close(after["lm_head.weight"][new_only[t]], expect, rtol=0, atol=1e-5)


def test_static_embeddings_are_fasttext_with_subwords_and_min_count(code):
    new_tok, corpus = code
    new = _backend(new_tok)
    texts = [json.loads(l)["text"] for l in corpus.read_text().splitlines()]
    docs = [e.tokens for e in new.encode_batch(texts, add_special_tokens=False)]
    seen = Counter(t for d in docs for t in d)
    wv = train_static_embeddings(docs, buckets=FOCUS.static_buckets)
    assert set(wv.key_to_index) == {t for t, n in seen.items() if n >= MIN_COUNT}
    assert "Ġtokenizationless" not in wv.key_to_index and np.linalg.norm(wv["Ġtokenizationless"]) > 0  # a string never seen still has n-gram vectors
    np.testing.assert_array_equal(wv["Ġthe"], train_static_embeddings(docs, buckets=FOCUS.static_buckets)["Ġthe"])


@pytest.mark.parametrize("init", ["mean", "focus", "random"])
def test_new_special_rows_never_win_a_greedy_step(tmp_path, bpe_no_reserved, new_tok, docs_corpus, init):
    """Special and reserved tokens the old model lacks get the mean of the other rows: with tied
    embeddings their logit is the mean logit, so an untrained transferred model never says them."""
    from pintsize.serve.generate import generate_tokens
    from pintsize.serve.sampling import SamplingParams

    # blocks that outweigh the residual stream, so that (as in a trained model, unlike a fresh one)
    # the most likely next token is not simply the input token
    model = _tiny_model(tmp_path, bpe_no_reserved, True, block_scale=30.0)
    counts = transfer_tokenizer(model, new_tok, tmp_path / "out", FOCUS.model_copy(update={"init": init}),
                                corpus=docs_corpus if init == "focus" else None)
    old, new = _backend(bpe_no_reserved), _backend(new_tok)
    unknown = {i for i, t in new.get_added_tokens_decoder().items() if t.content not in old.get_vocab(with_added_tokens=True)}
    assert len(unknown) > 40  # the reserved block
    m = load_model(tmp_path / "out").eval()
    n = len(new.get_vocab(with_added_tokens=True))
    text = [json.loads(l)["text"] for l in docs_corpus.read_text().splitlines()][40][:2000]
    ids = new.encode(text).ids[:60]
    with torch.no_grad():
        logits = m(torch.tensor([ids]))[0, :, :n]
    assert not set(logits.argmax(-1).tolist()) & unknown  # at every position of a real text
    for start in (0, 20, 40):
        out = list(generate_tokens(m, ids[start : start + 8], SamplingParams(max_new_tokens=16), n))
        assert not set(out) & unknown, out
    assert counts["mean_row"] == len(unknown)
    emb = m.tok_emb.weight.detach()
    real = [i for i in range(n) if i not in unknown]
    for i in unknown:
        torch.testing.assert_close(emb[i], emb[real].mean(0))


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
