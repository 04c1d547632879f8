"""How many bytes of text each token id spells, for bits per byte from a token-level loss."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

_BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")  # SentencePiece byte fallback


def token_byte_lengths(tokenizer_dir: str | Path, vocab_size: int) -> torch.Tensor:
    """[vocab_size] int64: UTF-8 bytes per token; 0 for special tokens and unused ids.

    Byte-level BPEs (GPT-2 style, SmolLM2) map one byte to one character of the token string;
    SentencePiece-style vocabularies spell a space as U+2581 and a raw byte as <0xNN>."""
    from tokenizers import Tokenizer

    from pintsize.tokenizer.load import tokenizer_dir as find

    path = find(tokenizer_dir) / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    byte_level = "ByteLevel" in json.dumps(spec.get("decoder"))
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    tok = Tokenizer.from_file(str(path))
    lengths = torch.zeros(vocab_size, dtype=torch.int64)
    for i in range(min(vocab_size, tok.get_vocab_size(with_added_tokens=True))):
        piece = tok.id_to_token(i)
        if piece is None or i in special:
            continue
        if _BYTE_TOKEN.match(piece):
            lengths[i] = 1
        else:
            lengths[i] = len(piece) if byte_level else len(piece.replace("\u2581", " ").encode("utf-8"))
    return lengths
