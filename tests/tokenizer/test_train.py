"""Trained BPE: Pints-compatible special and chat tokens, a vocabulary that is a multiple of 64,
lossless on real text, and loadable by transformers with the same ChatML template."""

from __future__ import annotations

import pytest

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.errors import PintsizeError
from pintsize.tokenizer import load_tokenizer
from pintsize.tokenizer.specials import CHAT_TOKENS, CHATML_TEMPLATE
from pintsize.tokenizer.train import train_bpe_backend


@pytest.fixture(scope="module")
def tok(bpe_dir):
    return load_tokenizer(bpe_dir)


def test_same_specials_as_pints_and_a_multiple_of_64(tok):
    assert len(tok) == 1024  # 1000 asked, rounded up
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens(list(range(1024 - 64, 1024))) == list(CHAT_TOKENS)
    assert tok.pad_token == "<|pad|>" and tok.pad_token_id == 1024 - 63
    assert tok.chat_template == CHATML_TEMPLATE


def test_chatml_renders_and_encodes_like_the_pints_tokenizer(tok):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    im_start = tok.convert_tokens_to_ids("<|im_start|>")
    assert ids[:2] == [1, im_start] and ids.count(im_start) == 3 and ids.count(2) == 2
    assert tok(text, add_special_tokens=False).input_ids == ids


def test_lossless_on_real_text(tok):
    """Byte-level BPE: every document decodes back exactly, leading spaces and all."""
    for d in pydoc_documents(limit=300)[200:260]:  # pages the tokenizer was not trained on
        for text in (d["text"], "  " + d["text"][:500]):
            ids = tok(text).input_ids
            assert ids[0] == 1 and tok.decode(ids, skip_special_tokens=True) == text


def test_a_small_corpus_is_padded_with_reserved_tokens():
    backend = train_bpe_backend([d["text"][:300] for d in pydoc_documents(limit=5)], vocab_size=4096)
    n = backend.get_vocab_size()
    assert n % 64 == 0 and n < 4096  # the trainer ran out of merges
    assert backend.token_to_id("<|reserved_48|>") is not None and backend.id_to_token(n - 1).startswith("<|reserved_")


def test_too_small_a_vocabulary_is_an_error():
    with pytest.raises(PintsizeError, match="too small"):
        train_bpe_backend(["some text"], vocab_size=300)
