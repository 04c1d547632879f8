"""Step 6: decontamination against evaluation sets by shared word n-grams (13 by default).

Every .jsonl/.json/.txt file under the configured paths (or a file named there) is an evaluation set, named by its path (for example
`gsm8k/test`). In JSON/JSONL files every string of a record counts (questions, choices,
answers), so the format of a benchmark does not matter; other files count as plain text. Words
are lowercase runs of letters and digits. N-grams are compared as 64-bit hashes (a collision
between two different 13-grams is ~1e-19 per pair).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from pintsize.errors import DataError

_WORD = re.compile(r"\w+")
_DATA_SUFFIXES = (".jsonl", ".json", ".txt")  # in a directory; notes such as README.md are not eval sets
_MULT = np.uint64(0x100000001B3)  # FNV prime: any odd 64-bit multiplier mixes the window


def _word_hashes(words: list[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh64_intdigest(w) for w in words), dtype=np.uint64, count=len(words))


def ngram_hashes(words: list[str], n: int) -> np.ndarray:
    """Hash of every window of n words (a polynomial of the word hashes, modulo 2^64)."""
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    h = _word_hashes(words)
    count = len(words) - n + 1
    acc = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc = acc * _MULT + h[k : k + count]
    return acc


def _record_strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _record_strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _record_strings(v)]
    return []


def _eval_texts(path: Path) -> list[str]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".jsonl":
        texts = []
        for i, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    texts.append("\n".join(_record_strings(json.loads(line))))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{i}: not JSON ({e.msg})") from None
        return texts
    if path.suffix == ".json":
        try:
            return ["\n".join(_record_strings(json.loads(raw)))]
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not JSON ({e.msg})") from None
    return [raw]


@dataclass
class DecontamIndex:
    ngram: int
    names: list[str]  # evaluation sets
    hashes: np.ndarray  # sorted unique n-gram hashes
    sets: np.ndarray  # per hash: a bit mask of the sets that hold it

    @classmethod
    def build(cls, paths: list[str], ngram: int) -> "DecontamIndex":
        files: list[tuple[str, Path]] = []
        for root in map(Path, paths):
            if root.is_file():
                files.append((root.stem, root))
            elif root.is_dir():
                found = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix in _DATA_SUFFIXES)
                files += [(f.relative_to(root).with_suffix("").as_posix(), f) for f in found]
            else:
                raise DataError(f"[data.decontamination] paths: {root}: no such file or directory")
        if len(files) > 64:
            raise DataError(f"[data.decontamination] paths: {len(files)} evaluation files; at most 64 are supported")
        all_hashes, all_sets = [], []
        for i, (_, f) in enumerate(files):
            for text in _eval_texts(f):
                h = ngram_hashes(_WORD.findall(text.lower()), ngram)
                all_hashes.append(h)
                all_sets.append(np.full(len(h), np.uint64(1) << np.uint64(i), dtype=np.uint64))
        hashes = np.concatenate(all_hashes) if all_hashes else np.empty(0, np.uint64)
        masks = np.concatenate(all_sets) if all_sets else np.empty(0, np.uint64)
        order = np.argsort(hashes, kind="stable")
        hashes, masks = hashes[order], masks[order]
        uniq, first = np.unique(hashes, return_index=True)
        merged = np.bitwise_or.reduceat(masks, first) if len(first) else masks
        return cls(ngram, [n for n, _ in files], uniq, merged)

    def save(self, path: Path) -> None:
        np.savez(path, ngram=self.ngram, names=np.array(self.names), hashes=self.hashes, sets=self.sets)

    @classmethod
    def load(cls, path: Path) -> "DecontamIndex":
        z = np.load(path)
        return cls(int(z["ngram"]), [str(x) for x in z["names"]], z["hashes"], z["sets"])

    def matches(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Start positions of the document's n-grams found in the index, and their set masks."""
        h = ngram_hashes(words, self.ngram)
        if not len(h) or not len(self.hashes):
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        pos = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
        hit = self.hashes[pos] == h
        return np.flatnonzero(hit), self.sets[pos[hit]]

    def set_counts(self, masks: np.ndarray) -> dict[str, int]:
        """Matched n-grams per evaluation set."""
        return {
            name: int(np.count_nonzero(masks & (np.uint64(1) << np.uint64(i))))
            for i, name in enumerate(self.names)
            if np.any(masks & (np.uint64(1) << np.uint64(i)))
        }


def words_with_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    found = list(_WORD.finditer(text))
    return [m.group().lower() for m in found], [m.span() for m in found]


def cut_spans(text: str, spans: list[tuple[int, int]], starts: np.ndarray, n: int, margin: int) -> str:
    """The text without the matched n-grams and `margin` words on each side of them; what is
    left of the text is joined by blank lines."""
    cuts: list[list[int]] = []
    for s in sorted(int(x) for x in starts):
        a = spans[max(0, s - margin)][0]
        b = spans[min(len(spans) - 1, s + n - 1 + margin)][1]
        if cuts and a <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], b)
        else:
            cuts.append([a, b])
    pieces, pos = [], 0
    for a, b in cuts:
        pieces.append(text[pos:a].strip())
        pos = b
    pieces.append(text[pos:].strip())
    return "\n\n".join(p for p in pieces if p)
