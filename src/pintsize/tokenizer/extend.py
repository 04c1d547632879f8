"""Extend a trained BPE with N tokens learned on new text (`pintsize tokenizer extend`), the
vi-mistral-x / Chinese-LLaMA way: old ids and merges stay as they are, new tokens get the next ids.

We train a BPE on the new text with the old tokenizer's normalizer and pre-tokenizer (the
`tokenizers` trainer), then take its merges in the order it learned them, keeping the first N
whose result the old vocabulary lacks and whose parts it (or an earlier kept merge) has. The kept
merges go after all old ones: BPE applies merges by rank, so a word is first merged exactly as
before, and only then may the new merges join its pieces. Text in which no new merge applies is
encoded exactly as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pintsize.errors import PintsizeError
from pintsize.tokenizer.load import TOKENIZER_JSON, tokenizer_dir


def _merge_pair(m) -> tuple[str, str]:
    return tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1))


def extend_tokenizer_json(old_json: dict, texts: list[str], n_add: int) -> tuple[dict, int]:
    """The old tokenizer.json with up to `n_add` new tokens and merges; and how many were added."""
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE

    model = old_json["model"]
    if model.get("type") != "BPE":
        raise PintsizeError(f"tokenizer extend needs a BPE tokenizer; this one is {model.get('type')}")
    vocab: dict[str, int] = model["vocab"]
    taken = set(vocab) | {t["content"] for t in old_json.get("added_tokens", [])}
    # `tokenizers` numbers added tokens from the end of the model's vocabulary when it loads them, so
    # new ids after them would shift them; with the added tokens also in the vocabulary, at their ids,
    # every id keeps its place (added tokens are matched before the model, so this changes no encoding).
    for t in old_json.get("added_tokens", []):
        vocab.setdefault(t["content"], t["id"])
    next_id = 1 + max(vocab.values())

    learner = Tokenizer.from_str(json.dumps(old_json))
    learner.model = BPE()
    byte_level = "ByteLevel" in json.dumps(old_json.get("pre_tokenizer"))
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) + 4 * n_add + 1000, min_frequency=2, initial_alphabet=alphabet, show_progress=False
    )
    learner.train_from_iterator(texts, trainer=trainer)
    learned = json.loads(learner.to_str())["model"]["merges"]

    kept = []
    for m in learned:
        a, b = _merge_pair(m)
        if a + b in taken or a not in vocab or b not in vocab:
            continue
        vocab[a + b] = next_id
        taken.add(a + b)
        next_id += 1
        kept.append(m)
        if len(kept) == n_add:
            break
    model["merges"] = list(model["merges"]) + kept
    return old_json, len(kept)


def extend_tokenizer(tokenizer: str | Path, corpus: str | Path, out: str | Path, n_add: int,
                     max_docs_per_source: int | None = None) -> dict[str, int]:
    """Write a tokenizer artifact at `out`: the tokenizer at `tokenizer` plus `n_add` tokens learned on `corpus`."""
    from tokenizers import Tokenizer

    from pintsize.artifacts import MANIFEST, ArtifactWriter
    from pintsize.data.records import iter_texts

    if n_add <= 0:
        raise PintsizeError(f"--add must be positive (got {n_add})")
    root = tokenizer_dir(tokenizer)
    texts = [t for t, _ in iter_texts(corpus, max_docs_per_source)]
    if not texts:
        raise PintsizeError(f"{corpus}: no text to learn new tokens from")
    new_json, added = extend_tokenizer_json(json.loads((root / TOKENIZER_JSON).read_text()), texts, n_add)
    config = {"kind": "extend", "add": n_add, "max_docs_per_source": max_docs_per_source}
    with ArtifactWriter(out, "tokenizer", config, inputs={"tokenizer": root, "corpus": corpus}) as art:
        for f in root.iterdir():
            if f.is_file() and f.name not in (TOKENIZER_JSON, MANIFEST):
                shutil.copy2(f, art.dir / f.name)
        (art.dir / TOKENIZER_JSON).write_text(json.dumps(new_json, ensure_ascii=False))
        backend = Tokenizer.from_file(str(art.dir / TOKENIZER_JSON))  # it must load
        art.stats.update(added=added, asked=n_add, vocab_size=backend.get_vocab_size(with_added_tokens=True))
    if added < n_add:
        print(f"extend: the corpus gave only {added} new tokens of the {n_add} asked for")
    return dict(art.stats)
