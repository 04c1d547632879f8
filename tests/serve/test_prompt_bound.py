"""The server's length bound on a prompt's token count (serve/prompt_bound.py): a true lower bound
(checked against the tokenizers themselves on text made to defeat it), None where a tokenizer can
shorten text, and a prompt that cannot fit refused by it without being tokenized."""

import re

import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from pintsize.serve.generate import Generator
from pintsize.serve.prompt_bound import max_token_bytes, min_tokens, tokenizer_max_token_bytes
from pintsize.serve.server import ServerSettings, create_app
from pintsize.tokenizer import load_tokenizer

# Texts that make tokens stand for as many bytes as they can (long repeated words, the longest
# entries themselves), and as few (multi-byte characters, byte fallback, whitespace runs).
TRICKY = [
    "word " * 2000,
    "a" * 5000,
    " " * 3000 + "\n" * 500 + "\t" * 200,
    "naïve café — “quotes” ☃ 😀🙈 漢字かな交じり文 עברית " * 100,
    "\U0010ffff\U000e0001\u200b\ufeff" * 300,  # rare code points: byte fallback
    "<|im_start|>user\n<|im_end|>" * 300,  # special tokens written as text
    "".join(chr(c) for c in range(32, 0x3000, 7)),
]


def _texts(tokenizer) -> list[str]:
    vocab = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=True)
    longest = sorted(vocab, key=lambda t: len(t.encode()), reverse=True)[:50]
    decoded = "".join(tokenizer.decode([vocab[t]]) for t in longest)  # the longest entries as the text they stand for
    return [*TRICKY, decoded * 20]


@pytest.mark.parametrize("which", ["tokenizer_dir", "bpe_tokenizer_dir"])  # Pints (Metaspace, byte fallback) and a byte-level BPE
def test_the_bound_never_exceeds_the_real_count(which, request):
    tokenizer = load_tokenizer(request.getfixturevalue(which))
    longest = tokenizer_max_token_bytes(tokenizer)
    assert longest is not None and longest > 1
    for text in _texts(tokenizer):
        n = len(tokenizer.encode(text, add_special_tokens=False))
        assert min_tokens(text, longest) <= n, (text[:40], n, longest)


def _spec(**parts) -> str:
    tok = Tokenizer(parts.pop("model", models.BPE(unk_token="[UNK]")))
    for key, value in parts.items():
        setattr(tok, key, value)
    return tok.to_str()


@pytest.mark.parametrize(
    "spec",
    [
        _spec(normalizer=normalizers.NFKC()),  # "ﬁ" (3 bytes) becomes "fi" (2)
        _spec(normalizer=normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Strip()])),
        _spec(pre_tokenizer=pre_tokenizers.Whitespace()),  # drops the spaces
        _spec(model=models.WordPiece({"[UNK]": 0}, unk_token="[UNK]")),  # an unknown word of any length is one token
        _spec(model=models.BPE(unk_token="[UNK]", fuse_unk=True)),  # so is a run of unknown characters
        _spec(model=models.BPE()),  # an unknown character is dropped
    ],
)
def test_no_bound_where_the_tokenizer_can_shorten_the_text(spec):
    assert max_token_bytes(spec, ["abc", "[UNK]"]) is None


def test_a_bound_where_the_text_can_only_grow():
    spec = _spec(model=models.BPE(byte_fallback=True), normalizer=normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]))
    assert max_token_bytes(spec, ["▁the", "<0xE2>", "ab"]) == 6
    assert min_tokens("x" * 12, 6) == 2 and min_tokens("x" * 13, 6) == 3 and min_tokens("é" * 3, 6) == 1


@pytest.fixture(scope="module")
def gen(model_dir):
    return Generator.load(model_dir, device="cpu")


def test_a_prompt_that_cannot_fit_is_refused_without_tokenizing_it(gen, monkeypatch):
    app = create_app(gen, ServerSettings(model_name="tiny", max_tokens=4))
    longest = tokenizer_max_token_bytes(gen.tokenizer)
    prompt = "x" * (longest * gen.context_length)  # at least the whole context
    seen = []
    real = gen.encode
    monkeypatch.setattr(gen, "encode", lambda text, *a, **k: seen.append(len(text)) or real(text, *a, **k))
    with TestClient(app) as client:
        for endpoint, body, param in [
            ("completions", {"prompt": prompt}, "prompt"),
            ("chat/completions", {"messages": [{"role": "user", "content": prompt}]}, "messages"),
        ]:
            r = client.post(f"/v1/{endpoint}", json={"model": "tiny", "max_tokens": 2, **body})
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            least = int(re.search(r"at least (\d+) tokens", error["message"]).group(1))
            assert error["param"] == param and least >= gen.context_length, error
        assert seen == []  # never tokenized
        ok = client.post("/v1/completions", json={"model": "tiny", "prompt": "x" * 40, "max_tokens": 2})
        assert ok.status_code == 200, ok.text
        assert seen == [40]
