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


def read_backend(root: str | Path):
    """The `tokenizers.Tokenizer` in `root/tokenizer.json`; a damaged file is named in one line."""
    from tokenizers import Tokenizer

    path = Path(root) / TOKENIZER_JSON
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - the tokenizers library raises a bare Exception for a file it cannot parse
        raise PintsizeError(f"{path}: not a tokenizer file the tokenizers library can read ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def load_tokenizer(path: str | Path):
    """A `transformers.PreTrainedTokenizerFast` for a tokenizer artifact or a model artifact."""
    from transformers import AutoTokenizer

    root = tokenizer_dir(path)
    try:
        return AutoTokenizer.from_pretrained(str(root))
    except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception for a file it cannot parse
        read_backend(root)  # which file is damaged, in one line: tokenizer.json,
        _special_token_names(root)  # or a JSON file beside it
        raise PintsizeError(f"{root}: transformers could not load this tokenizer ({_first_line(e)})") from None


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
        root = tokenizer_dir(path)
        backend = read_backend(root)
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
            for role, value in read_json_object(p).items():
                if role in ("bos_token", "eos_token", "pad_token") and value is not None:
                    names[role] = value["content"] if isinstance(value, dict) else value
    return names


def read_json_object(path: Path) -> dict:
    """A tokenizer's JSON side file (tokenizer_config.json, special_tokens_map.json) as a dict."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PintsizeError(f"{path}: not valid JSON ({_first_line(e)})") from None
    if not isinstance(data, dict):
        raise PintsizeError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data
