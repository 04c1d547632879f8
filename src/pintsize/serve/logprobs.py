"""Log-probabilities in OpenAI's response shapes.

- chat: `choices[].logprobs = {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token",
  "logprob", "bytes"}, ...]}, ...], "refusal": null}`;
- completions (the legacy shape): `choices[].logprobs = {"tokens", "token_logprobs", "top_logprobs"
  (one {token: logprob} per position: the k most likely and the chosen one), "text_offset"}`.

A token's `bytes` are its exact UTF-8 bytes (a byte-level BPE token can hold half a character);
its `token` string is those bytes decoded, or, when they are not whole UTF-8, `bytes:\\xNN...` as
OpenAI writes it.
"""

from __future__ import annotations

import re

from pintsize.serve.sampling import TokenLogprob

_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's map from the printable stand-in characters of a byte-level BPE back to bytes: the
    printable Latin-1 bytes stand for themselves, the others for chr(256), chr(257), ... in order
    (GPT-2's `bytes_to_unicode`, which `tokenizers`' ByteLevel uses)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    stand_in = {b: chr(b) for b in printable}
    for n, b in enumerate(b for b in range(256) if b not in stand_in):
        stand_in[b] = chr(256 + n)
    return {c: b for b, c in stand_in.items()}


def _uses_byte_level(tokenizer) -> bool:
    import json

    decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder") or {}
    kinds = [d.get("type") for d in decoder.get("decoders", [decoder])]
    return "ByteLevel" in kinds


class TokenBytes:
    """Every token's bytes, for a byte-level BPE (GPT-2 style) or a SentencePiece-style vocabulary
    (`▁` for a space, `<0xNN>` byte-fallback pieces); added tokens are their own text."""

    def __init__(self, tokenizer):
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        added = {i: t.content for i, t in tokenizer.added_tokens_decoder.items()}
        self.special = frozenset(i for i, t in tokenizer.added_tokens_decoder.items() if t.special)  # not shown in text
        byte_level = _byte_level_decoder() if _uses_byte_level(tokenizer) else None
        self.bytes: list[bytes] = []
        for i, piece in enumerate(pieces):
            piece = piece or ""
            if i in added:
                b = added[i].encode()
            elif byte_level is not None:
                b = bytes(byte_level[c] for c in piece) if all(c in byte_level for c in piece) else piece.encode()
            elif m := _BYTE_FALLBACK.fullmatch(piece):
                b = bytes([int(m.group(1), 16)])
            else:
                b = piece.replace("\u2581", " ").encode()
            self.bytes.append(b)

    def text(self, token: int) -> str:
        b = self.bytes[token]
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return "bytes:" + "".join(f"\\x{x:02x}" for x in b)


def _entry(tb: TokenBytes, token: int, logprob: float) -> dict:
    return {"token": tb.text(token), "logprob": logprob, "bytes": list(tb.bytes[token])}


def chat_logprobs(records: list[TokenLogprob], tb: TokenBytes) -> dict:
    content = [_entry(tb, r.token, r.logprob) | {"top_logprobs": [_entry(tb, t, lp) for t, lp in r.top]} for r in records]
    return {"content": content, "refusal": None}


def completion_logprobs(records: list[TokenLogprob], tb: TokenBytes, decoder=None) -> dict:
    """The legacy shape. `decoder`: an incremental UTF-8 decoder (`ShownText()`) that has seen the
    completion's earlier tokens (streaming), so that `text_offset` counts characters from the start
    of the completion's text, as it is shown (special tokens are not shown)."""
    decoder = decoder or ShownText()
    tokens, top, offsets = [], [], []
    for r in records:
        offsets.append(decoder.shown)
        decoder.feed(tb, r.token)
        tokens.append(tb.text(r.token))
        entries: dict[str, float] = {}
        for t, lp in (*r.top, (r.token, r.logprob)):  # OpenAI: "up to logprobs + 1 elements", the chosen one always
            entries.setdefault(tb.text(t), lp)
        top.append(entries)
    return {"tokens": tokens, "token_logprobs": [r.logprob for r in records], "top_logprobs": top, "text_offset": offsets}


class ShownText:
    """Counts the characters of the text shown so far. Python's incremental decoder holds back a
    character whose bytes are still incomplete and replaces bytes that can never be UTF-8, as the
    streamed text does."""

    def __init__(self):
        import codecs

        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.shown = 0

    def feed(self, tb: TokenBytes, token: int) -> None:
        if token not in tb.special:
            self.shown += len(self._decoder.decode(tb.bytes[token]))
