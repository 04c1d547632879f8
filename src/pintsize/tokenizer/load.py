"""Finding and loading a tokenizer: a tokenizer artifact, or the `tokenizer/` of a model artifact.

`load_tokenizer` gives the transformers object (chat templates, decoding); `TokenizerInfo` reads
only `tokenizer.json` and the special-token names with the `tokenizers` library, which is what
packing needs and is much faster to import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pintsize.errors import PintsizeError

TOKENIZER_JSON = "tokenizer.json"


def tokenizer_dir(path: str | Path) -> Path:
    """The directory holding `tokenizer.json`: `path` itself or its `tokenizer/` subdirectory."""
    path = Path(path)
    for candidate in (path, path / "tokenizer"):
        if (candidate / TOKENIZER_JSON).is_file():
            return candidate
    raise PintsizeError(f"{path}: not a tokenizer (no {TOKENIZER_JSON} here or in {path / 'tokenizer'})")


def load_tokenizer(path: str | Path):
    """A `transformers.PreTrainedTokenizerFast` for a tokenizer artifact or a model artifact."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir(path)))


@dataclass(frozen=True)
class TokenizerInfo:
    """What packing needs to know about a tokenizer, read without transformers."""

    path: Path
    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int | None
    backend: Any = field(repr=False, compare=False)  # the tokenizers.Tokenizer

    @classmethod
    def read(cls, path: str | Path) -> "TokenizerInfo":
        from tokenizers import Tokenizer

        root = tokenizer_dir(path)
        backend = Tokenizer.from_file(str(root / TOKENIZER_JSON))
        names = _special_token_names(root)

        def token_id(role: str) -> int | None:
            name = names.get(role)
            return None if name is None else backend.token_to_id(name)

        bos, eos = token_id("bos_token"), token_id("eos_token")
        if bos is None or eos is None:
            raise PintsizeError(f"{root}: the tokenizer needs a BOS and an EOS token (found bos={bos}, eos={eos})")
        return cls(root, backend.get_vocab_size(with_added_tokens=True), bos, eos, token_id("pad_token"), backend)


def _special_token_names(root: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    for file in ("special_tokens_map.json", "tokenizer_config.json"):  # the config wins
        p = root / file
        if p.is_file():
            for role, value in json.loads(p.read_text()).items():
                if role in ("bos_token", "eos_token", "pad_token") and value is not None:
                    names[role] = value["content"] if isinstance(value, dict) else value
    return names
