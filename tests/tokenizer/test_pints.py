"""The 1.5-Pints tokenizer: exact layout, the ChatML ids of DESIGN.md, and agreement with the
`sentencepiece` reference on real text (with the whitespace cases it is known to differ in)."""

from __future__ import annotations

import random
import re

import pytest

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.tokenizer import load_tokenizer
from pintsize.tokenizer.pints import mistral_v1_model
from pintsize.tokenizer.specials import CHAT_TOKENS

CHATML_IDS = [1, 32002, 1838, 13, 23809, 736, 2, 13, 32002, 489, 11143, 13]  # DESIGN.md


@pytest.fixture(scope="module")
def tok(pints_dir):
    return load_tokenizer(pints_dir)


def test_layout_matches_the_reference(tok):
    assert len(tok) == 32064
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 1, 2, 32001)
    assert tok.convert_ids_to_tokens(2) == "<|im_end|>"
    named = {"<|end_of_turn|>": 32000, "<|im_start|>": 32002, "</s>": 32003, "[INST]": 32004, "[/INST]": 32005,
             "<<SYS>>": 32006, "<</SYS>>": 32007, "<|user|>": 32008, "<|system|>": 32009, "<|assistant|>": 32010,
             "<|begin_of_text|>": 32011, "<|eot_id|>": 32014, "<|reserved_0|>": 32015, "<|reserved_48|>": 32063}
    assert {t: tok.convert_tokens_to_ids(t) for t in named} == named
    assert tok.convert_ids_to_tokens(list(range(32000, 32064))) == list(CHAT_TOKENS)


def test_chatml_example_encodes_to_the_listed_ids(tok):
    messages = [{"role": "user", "content": "Hi there"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<s><|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    assert tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=False) == CHATML_IDS
    assert tok(text, add_special_tokens=False).input_ids == CHATML_IDS
    # BOS is added to plain text, whose first word gets sentencepiece's "▁" ("▁Hi", not "Hi").
    assert tok("Hi there").input_ids == [1, 15359, 736]


def test_decoding_skips_chat_tokens(tok):
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True, return_dict=False)
    assert tok.decode(ids, skip_special_tokens=True) == "user\nWhat is 2+2?\nassistant\n"


def _real_lines(n: int) -> list[str]:
    lines = sorted({ln.strip() for d in pydoc_documents() for ln in d["text"].splitlines() if len(ln.strip()) > 3})
    random.Random(0).shuffle(lines)
    return lines[:n]


def test_agrees_with_sentencepiece_on_1000_lines_of_real_text(tok):
    """Known cases where HF's (non-legacy) conversion differs from sentencepiece:
    (1) text that starts with whitespace: sentencepiece puts its dummy "▁" in front as well;
    (2) a run of 2+ spaces before a word: sentencepiece splits the run into its own piece
        ("▁" + "▁word"), BPE merges "▁▁" first ("▁▁" + "word"). The decoded text is the same.
    Every other line must encode to exactly the same ids."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(mistral_v1_model()))
    lines = _real_lines(1000)
    assert len(lines) == 1000
    run = re.compile(r"  ")
    plain = [ln for ln in lines if not run.search(ln)]
    with_runs = [ln for ln in lines if run.search(ln)]
    for ln in plain:
        assert tok(ln, add_special_tokens=False).input_ids == sp.encode(ln), ln
    differ = 0
    sp_tokens = ours = 0
    for ln in with_runs:
        a, b = sp.encode(ln), tok(ln, add_special_tokens=False).input_ids
        differ += a != b
        sp_tokens += len(a)
        ours += len(b)
        assert tok.decode(b) == sp.decode(a) == ln
    assert len(plain) >= 300  # the exact-match check covers a real share of the lines
    assert differ <= len(with_runs)
    assert abs(ours - sp_tokens) <= 0.02 * sp_tokens  # the split of whitespace runs barely changes lengths

    # Case (1), by hand: one leading space costs sentencepiece an extra "▁" piece.
    assert sp.encode(" Hello") == [28705, 22557] and tok(" Hello", add_special_tokens=False).input_ids == [22557]
    # Case (2), by hand.
    assert sp.encode("a  b") == [264, 28705, 287] and tok("a  b", add_special_tokens=False).input_ids == [264, 259, 28726]
