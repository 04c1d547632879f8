"""Perplexity and bits-per-byte: every text token scored exactly once, and the totals equal a
direct computation with transformers' model on the Hugging Face export."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.errors import PintsizeError
from pintsize.eval.perplexity import document_ids, evaluate_perplexity, windows
from pintsize.serve.generate import Generator


@pytest.mark.parametrize("n,seq_len,stride", [(2, 8, 8), (50, 8, 8), (50, 8, 3), (17, 16, 1), (1000, 64, 48)])
def test_windows_score_every_target_once_within_the_window(n, seq_len, stride):
    ids = list(range(n))
    covered = []
    for tokens, scored in windows(ids, seq_len, stride):
        assert len(tokens) - 1 <= seq_len and 0 < scored <= len(tokens) - 1
        covered += tokens[-scored:]  # the targets of the last `scored` inputs
    assert covered == ids[1:]


@pytest.fixture(scope="module")
def setup(model_dir, hf_dir):
    gen = Generator.load(model_dir, device="cpu")
    hf = AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    texts = [d["text"][:1500] for d in pydoc_documents(limit=6)]
    return gen, hf, texts


def reference_nll(hf, ids: list[int], seq_len: int, stride: int) -> float:
    """Sum of -log p over ids[1:], each from the window ending at it: a plain loop over positions."""
    total = 0.0
    with torch.no_grad():
        for start in range(1, len(ids), stride):
            end = min(start + stride, len(ids))
            begin = max(0, end - 1 - seq_len)
            logprobs = F.log_softmax(hf(torch.tensor([ids[begin : end - 1]])).logits[0], dim=-1)
            for p in range(start, end):
                total -= logprobs[p - 1 - begin, ids[p]].item()
    return total


@pytest.mark.parametrize("seq_len,stride", [(256, 256), (128, 48)])
def test_totals_equal_a_direct_computation(setup, seq_len, stride):
    gen, hf, texts = setup
    result = evaluate_perplexity(gen.model, gen.tokenizer, texts, seq_len=seq_len, stride=stride, batch_size=3)
    docs = [document_ids(gen.tokenizer, t) for t in texts]
    assert all(d[0] == gen.tokenizer.bos_token_id for d in docs) and max(map(len, docs)) > seq_len
    nll = sum(reference_nll(hf, d, seq_len, stride) for d in docs)
    assert result.tokens == sum(len(d) - 1 for d in docs)
    assert result.bytes == sum(len(t.encode("utf-8")) for t in texts)
    assert result.nll == pytest.approx(nll, rel=1e-5)
    assert result.bits_per_byte == pytest.approx(nll / math.log(2) / result.bytes, rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(nll / result.tokens), rel=1e-5)


def test_bad_window_settings_are_refused(setup):
    gen, _, texts = setup
    with pytest.raises(PintsizeError, match="longer than the model's context"):
        evaluate_perplexity(gen.model, gen.tokenizer, texts, seq_len=10_000)
    with pytest.raises(PintsizeError, match="stride"):
        evaluate_perplexity(gen.model, gen.tokenizer, texts, seq_len=64, stride=65)
