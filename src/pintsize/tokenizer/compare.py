"""Comparing tokenizers on a corpus, per source: how much text each token carries.

- characters per token and UTF-8 bytes per token (higher: shorter sequences, cheaper training);
- tokens per word (words split on whitespace);
- byte-fallback rate: the share of tokens that stand for raw bytes rather than learned pieces:
  `<0xNN>` tokens of a byte-fallback (SentencePiece-style) vocabulary (Mistral's has no piece
  for a newline or a tab, so those count too), or, in a byte-level BPE, tokens whose bytes are
  not whole UTF-8 characters.
Special tokens are not added, so only the text is measured.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pintsize.artifacts import atomic_write_bytes, atomic_write_json

METRICS = {
    "chars_per_token": "chars/token",
    "bytes_per_token": "bytes/token",
    "tokens_per_word": "tokens/word",
    "byte_fallback_rate": "byte fallback",
}
ALL = "(all)"
_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass
class _Totals:
    documents: int = 0
    chars: int = 0
    bytes: int = 0
    words: int = 0


def byte_fallback_ids(backend) -> np.ndarray:
    """Boolean mask over token ids: True for tokens that stand for raw bytes."""
    spec = json.loads(backend.to_str())
    vocab = backend.get_vocab(with_added_tokens=False)
    flags = np.zeros(backend.get_vocab_size(with_added_tokens=True), dtype=bool)
    if spec["model"].get("byte_fallback"):
        for token, i in vocab.items():
            flags[i] = bool(_BYTE_PIECE.match(token))
    elif "ByteLevel" in json.dumps(spec.get("decoder")):
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        to_byte = {c: b for b, c in bytes_to_unicode().items()}
        for token, i in vocab.items():
            try:
                bytes(to_byte[c] for c in token).decode("utf-8")
            except (KeyError, UnicodeDecodeError):
                flags[i] = True
    return flags


def compare_tokenizers(tokenizers: list[Path], corpus: Path, max_docs_per_source: int | None = 200) -> dict:
    """Metrics of each tokenizer on each source of the corpus (and on all of it together)."""
    from pintsize.data.records import iter_texts
    from pintsize.tokenizer.load import TokenizerInfo

    texts: dict[str, list[str]] = {}
    for text, source in iter_texts(corpus, max_docs_per_source):
        texts.setdefault(source, []).append(text)
    totals = {s: _Totals() for s in [*sorted(texts), ALL]}
    for source, docs in texts.items():
        for t in (totals[source], totals[ALL]):
            t.documents += len(docs)
            t.chars += sum(len(d) for d in docs)
            t.bytes += sum(len(d.encode("utf-8")) for d in docs)
            t.words += sum(len(d.split()) for d in docs)

    result: dict = {
        "corpus": str(corpus),
        "max_docs_per_source": max_docs_per_source,
        "sources": {s: vars(t) for s, t in totals.items()},
        "tokenizers": {},
    }
    for name, path in unique_names(tokenizers).items():
        backend = TokenizerInfo.read(path).backend
        fallback = byte_fallback_ids(backend)
        per_source, all_tokens, all_fallback = {}, 0, 0
        for source in sorted(texts):
            ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in backend.encode_batch_fast(texts[source], add_special_tokens=False)])
            n_fallback = int(fallback[ids].sum())
            per_source[source] = _metrics(totals[source], len(ids), n_fallback)
            all_tokens += len(ids)
            all_fallback += n_fallback
        per_source[ALL] = _metrics(totals[ALL], all_tokens, all_fallback)
        result["tokenizers"][name] = {"path": str(path), "vocab_size": backend.get_vocab_size(), "metrics": per_source}
    return result


def _metrics(t: _Totals, tokens: int, fallback: int) -> dict:
    n = max(tokens, 1)
    return {
        "tokens": tokens,
        "chars_per_token": t.chars / n,
        "bytes_per_token": t.bytes / n,
        "tokens_per_word": tokens / max(t.words, 1),
        "byte_fallback_rate": fallback / n,
    }


def unique_names(paths: list[Path]) -> dict[str, Path]:
    """Each tokenizer's label: its folder's name, with as many parent folders as it takes to tell
    them apart (runs/a/tokenizer and runs/b/tokenizer -> a/tokenizer, b/tokenizer); a path given
    twice gets a prime."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = 1
    while depth < max(map(len, parts)) and len({x[-depth:] for x in parts}) < len(set(parts)):
        depth += 1
    names: dict[str, Path] = {}
    for p, x in zip(paths, parts):
        name = "/".join(x[-depth:])
        while name in names:
            name += "'"
        names[name] = Path(p)
    return names


def write_comparison(result: dict, out_dir: Path) -> tuple[Path, Path]:
    """`compare.json` and `compare.png` (one panel per metric, a bar per tokenizer and source)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    json_path = atomic_write_json(out_dir / "compare.json", result)
    names = list(result["tokenizers"])
    sources = list(result["sources"])
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.5 * len(METRICS), 4.2))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(sources))
    for ax, (key, label) in zip(axes, METRICS.items()):
        for k, name in enumerate(names):
            values = [result["tokenizers"][name]["metrics"][s][key] for s in sources]
            ax.bar(x + (k - (len(names) - 1) / 2) * width, values, width, label=name)
        ax.set_title(label)
        ax.set_xticks(x, sources, rotation=30, ha="right")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    png_path = atomic_write_bytes(out_dir / "compare.png", buf.getvalue())
    return json_path, png_path
