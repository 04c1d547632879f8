"""A lower bound on a prompt's token count from its length alone: one pass over its bytes instead
of a tokenization (seconds for a prompt near the server's 1 MiB body limit).

Every token stands for a piece of the text it was cut from, and no piece is longer than the
longest token: L = the most UTF-8 bytes in any vocabulary entry. So a text of B bytes has at least
ceil(B / L) tokens. That holds only where the tokenizer cannot make the text shorter before cutting
it, so it is checked against the tokenizer's own description (tokenizer.json):

- bytes, not characters: a byte-level BPE's token "Ġthe" is 3 characters of 2+1+1 bytes standing
  for 4 bytes of text; a byte-fallback token "<0xE2>" is 6 bytes standing for 1; SentencePiece's
  "▁the" is 6 bytes standing for the 4 of " the". Measured in UTF-8 bytes, every entry is at least
  as long as the text it stands for, and the text's own bytes are what the bound divides.
- the normalizer may only add (Prepend, Append, a Replace by something no shorter): NFC, NFKC,
  Lowercase, Strip and the like can shorten text, and then no bound is given.
- the pre-tokenizer may not drop text (Whitespace, BertPreTokenizer, a Split that removes its
  pattern do).
- no added token may swallow the whitespace beside it (lstrip, rstrip), and the model must never
  let one token stand for text of any length: a BPE needs byte fallback, a
  byte-level alphabet, or an unknown token that is not fused over runs of unknown characters;
  WordLevel, WordPiece and Unigram map unknown words (of any length) to one token, so no bound.
Where no bound holds, `max_token_bytes` is None and the prompt is simply tokenized.
"""

from __future__ import annotations

import json

_GROWING_NORMALIZERS = {"Prepend", "Append"}
_KEEPING_PRE_TOKENIZERS = {"ByteLevel", "Metaspace", "Digits", "UnicodeScripts", "Punctuation", "Split"}


def _normalizer_keeps_length(spec: dict | None) -> bool:
    if spec is None:
        return True
    kind = spec.get("type")
    if kind == "Sequence":
        return all(_normalizer_keeps_length(s) for s in spec.get("normalizers", []))
    if kind == "Replace":  # a plain string replaced by one no shorter; a regex pattern could match anything
        pattern = spec.get("pattern", {})
        return "String" in pattern and len(spec.get("content", "").encode()) >= len(pattern["String"].encode())
    return kind in _GROWING_NORMALIZERS


def _pre_tokenizer_keeps_text(spec: dict | None) -> bool:
    if spec is None:
        return True
    kind = spec.get("type")
    if kind == "Sequence":
        return all(_pre_tokenizer_keeps_text(s) for s in spec.get("pretokenizers", []))
    return kind in _KEEPING_PRE_TOKENIZERS and spec.get("behavior") != "Removed"


def _has_byte_level(spec: dict | None) -> bool:
    if spec is None:
        return False
    if spec.get("type") == "Sequence":
        return any(_has_byte_level(s) for s in spec.get("pretokenizers", []))
    return spec.get("type") == "ByteLevel"


def max_token_bytes(tokenizer_json: str, vocab: list[str]) -> int | None:
    """The most bytes of prompt text one token can stand for (see the module's notes), or None
    when this tokenizer gives no such bound. `tokenizer_json` is the tokenizer's serialized form,
    `vocab` every entry of its vocabulary, added tokens included."""
    spec = json.loads(tokenizer_json)
    model = spec.get("model", {})
    if not _normalizer_keeps_length(spec.get("normalizer")) or not _pre_tokenizer_keeps_text(spec.get("pre_tokenizer")):
        return None
    if model.get("type") != "BPE":
        return None
    if any(t.get("lstrip") or t.get("rstrip") for t in spec.get("added_tokens", [])):
        return None  # such an added token swallows the whitespace beside it, however much there is
    covered = model.get("byte_fallback") or _has_byte_level(spec.get("pre_tokenizer")) or (
        model.get("unk_token") is not None and not model.get("fuse_unk"))
    if not covered:  # an unknown character could be dropped, or a run of them become one token
        return None
    return max((len(t.encode("utf-8", "surrogatepass")) for t in vocab), default=0) or None


def min_tokens(text: str, longest: int) -> int:
    """At least this many tokens: ceil(bytes / longest)."""
    return -(-len(text.encode("utf-8", "surrogatepass")) // longest)


def tokenizer_max_token_bytes(tokenizer) -> int | None:
    """`max_token_bytes` of a transformers fast tokenizer (None for one without a tokenizers backend)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    return max_token_bytes(backend.to_str(), list(backend.get_vocab(with_added_tokens=True)))
