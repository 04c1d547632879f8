"""Extend a trained BPE with N tokens learned on new text (`pintsize tokenizer extend`), the
vi-mistral-x / Chinese-LLaMA way: old ids and merges stay as they are, new tokens get the next ids.

The new merges are learned by *continuing* BPE on the old tokenizer's segmentation of the new
text: each word (after the old normalizer and pre-tokenizer) is split by the old model, adjacent
pairs of old tokens are counted, and the most frequent pair whose result is not yet a token is
merged, counts updated, repeated N times. The merges go after all old ones; BPE applies merges by
rank, so a word is first merged exactly as before and only then do the new merges join its pieces,
in the order they were learned: the encoder replays the training. (A fresh BPE trained from
bytes, our first version, splits words differently from the old merges, so many of its merges
never see their two parts side by side and their tokens never fire.) Text in which no new merge
applies is encoded exactly as before.
"""

from __future__ import annotations

import heapq
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

from pintsize.errors import PintsizeError
from pintsize.tokenizer.load import TOKENIZER_JSON, tokenizer_dir

MIN_PAIR_COUNT = 2  # a pair seen once is not a pattern (the `tokenizers` trainer's min_frequency, as we train)


def _merge_pair(m) -> tuple[str, str]:
    return tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1))


def old_segmentation(old_json: dict, texts: list[str]) -> Counter:
    """{tuple of old token strings: count} for the words of `texts` under the old tokenizer
    (its normalizer and pre-tokenizer, then its BPE model on each distinct word once)."""
    from tokenizers import Tokenizer

    old = Tokenizer.from_str(json.dumps(old_json))
    words: Counter = Counter()
    for text in texts:
        if old.normalizer is not None:
            text = old.normalizer.normalize_str(text)
        words.update([w for w, _ in old.pre_tokenizer.pre_tokenize_str(text)] if old.pre_tokenizer else [text])
    return Counter({tuple(t.value for t in old.model.tokenize(w)): n for w, n in words.items()})


def learn_merges(segmented: Counter, taken: set[str], n_add: int) -> list[tuple[str, str]]:
    """Continue BPE on `segmented` words: up to `n_add` merges whose results are not in `taken`,
    most frequent pair first (ties: the smaller pair), counts updated only in the words a merge touches."""
    words = [list(w) for w in segmented]
    freq = list(segmented.values())
    counts: defaultdict[tuple[str, str], int] = defaultdict(int)
    where: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            counts[pair] += freq[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while heap and len(merges) < n_add:
        neg, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -neg:  # stale entry: the count changed since it was pushed
            continue
        if -neg < MIN_PAIR_COUNT:
            break
        a, b = pair
        if a + b in taken:  # already a token (reached by other merges): no new row to learn
            continue
        merges.append(pair)
        taken.add(a + b)
        touched = set()
        for i in where.pop(pair):
            w, n = words[i], freq[i]
            for p in zip(w, w[1:]):
                counts[p] -= n
                touched.add(p)
            merged, j = [], 0
            while j < len(w):  # left to right, as the trainer and the encoder do
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    merged.append(a + b)
                    j += 2
                else:
                    merged.append(w[j])
                    j += 1
            words[i] = merged
            for p in zip(merged, merged[1:]):
                counts[p] += n
                where[p].add(i)
                touched.add(p)
        for p in touched:
            if counts[p] > 0 and p != pair:
                heapq.heappush(heap, (-counts[p], p))
            elif counts[p] <= 0:
                counts.pop(p, None)
                where.pop(p, None)
        counts.pop(pair, None)
    return merges


def extend_tokenizer_json(old_json: dict, texts: list[str], n_add: int) -> tuple[dict, int]:
    """The old tokenizer.json with up to `n_add` new tokens and merges; and how many were added."""
    model = old_json["model"]
    if model.get("type") != "BPE":
        raise PintsizeError(f"tokenizer extend needs a BPE tokenizer; this one is {model.get('type')}")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise PintsizeError("tokenizer extend needs a BPE without continuing_subword_prefix/end_of_word_suffix")
    segmented = old_segmentation(old_json, texts)
    vocab: dict[str, int] = model["vocab"]
    taken = set(vocab) | {t["content"] for t in old_json.get("added_tokens", [])}
    # `tokenizers` numbers added tokens from the end of the model's vocabulary when it loads them, so
    # new ids after them would shift them; with the added tokens also in the vocabulary, at their ids,
    # every id keeps its place (added tokens are matched before the model, so this changes no encoding).
    for t in old_json.get("added_tokens", []):
        vocab.setdefault(t["content"], t["id"])
    next_id = 1 + max(vocab.values())
    merges = learn_merges(segmented, taken, n_add)
    for a, b in merges:
        vocab[a + b] = next_id
        next_id += 1
    as_lists = not model["merges"] or isinstance(model["merges"][0], list)
    model["merges"] = list(model["merges"]) + [list(m) if as_lists else " ".join(m) for m in merges]
    return old_json, len(merges)


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
