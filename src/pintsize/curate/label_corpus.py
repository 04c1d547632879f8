"""The documents a label loop samples: those that reached the quality step of a curation, as that
step saw them (after normalization, language ID, the heuristic filters, PII masking and dedup).

In a curate artifact they are its corpus (`data/`, each document once: mixture repeats are folded)
plus its rejects of the quality and mixture steps (`rejects/`, step = quality | mixture), which
came after the quality step's input was fixed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pintsize.errors import DataError

AFTER_QUALITY = ("quality", "mixture")  # reject steps whose documents had reached the quality step


@dataclass(frozen=True)
class Doc:
    id: str
    source: str
    text: str


def _parts(corpus: Path, sub: str) -> list[Path]:
    return sorted((corpus / sub).glob("part-*.parquet"))


def _table(part: Path, columns: list[str], rejects: bool):
    wanted = columns + (["step"] if rejects else [])
    try:
        table = pq.read_table(part, columns=wanted)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{part}: not a readable curate part, with columns {', '.join(wanted)} ({e})") from None
    if rejects:
        table = table.filter(pc.is_in(table.column("step"), value_set=pa.array(AFTER_QUALITY)))
    return table


def quality_step_index(corpus: Path) -> tuple[list[str], list[str]]:
    """(ids, sources) of every document that reached the quality step, each once, in corpus order."""
    corpus = Path(corpus)
    if not (corpus / "data").is_dir():
        raise DataError(f"{corpus}: not a curate artifact (no data/; expected the output of `pintsize curate`)")
    ids, sources, seen = [], [], set()
    for sub, rejects in (("data", False), ("rejects", True)):
        for part in _parts(corpus, sub):
            table = _table(part, ["id", "source"], rejects)
            for i, s in zip(table.column("id").to_pylist(), table.column("source").to_pylist()):
                i = i.split("#copy", 1)[0]  # a mixture repeat is the same document
                if i not in seen:
                    seen.add(i)
                    ids.append(i)
                    sources.append(s)
    return ids, sources


def read_docs(corpus: Path, ids: set[str]) -> dict[str, Doc]:
    """The documents with these ids (text as the quality step saw it)."""
    found: dict[str, Doc] = {}
    for sub, rejects in (("data", False), ("rejects", True)):
        for part in _parts(Path(corpus), sub):
            table = _table(part, ["id", "source", "text"], rejects)
            for i, s, t in zip(*(table.column(c).to_pylist() for c in ("id", "source", "text"))):
                if i in ids and i not in found:
                    found[i] = Doc(i, s, t)
    return found


def unit(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by the key and the seed: a reproducible random order."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest(), "big") / 2**64


def pool_ids(ids: list[str], sources: list[str], size: int, seed: int) -> list[int]:
    """Up to `size` of the documents (indices), a uniform sample stratified by source in proportion;
    all of them when there are fewer. A bigger corpus is sampled, not read whole into memory."""
    if len(ids) <= size:
        return list(range(len(ids)))
    return proportional(list(range(len(ids))), sources, ids, size, seed)


def proportional(items: list[int], sources: list[str], keys: list[str], n: int, seed: int) -> list[int]:
    """n of `items`, each source getting its share of n (largest remainders), a random sample within it:
    a stratified uniform sample, so shares measured on it are the corpus's."""
    by_source: dict[str, list[int]] = {}
    for item, s, _key in sorted(zip(items, sources, keys), key=lambda x: unit(x[2], seed)):
        by_source.setdefault(s, []).append(item)
    total = len(items)
    quota = {s: n * len(v) / total for s, v in by_source.items()}
    take = {s: int(q) for s, q in quota.items()}
    for s in sorted(quota, key=lambda s: (take[s] - quota[s], s))[: n - sum(take.values())]:
        take[s] += 1
    return [i for s in sorted(by_source) for i in by_source[s][: take[s]]]


def uncertain(candidates: list[int], sources: list[str], keys: list[str], scores, threshold: float | None, n: int, seed: int) -> list[int]:
    """n of the candidates for labelling: sources take turns (so a source the model ranks far from
    the cut still gets its share), and within a source the documents whose score is nearest the
    model's threshold come first (those it is least sure of); without a model, a random order."""
    by_source: dict[str, list[tuple[float, float, int]]] = {}
    for c in candidates:
        nearness = abs(float(scores[c]) - threshold) if scores is not None and threshold is not None else 0.0
        by_source.setdefault(sources[c], []).append((nearness, unit(keys[c], seed), c))
    queues = [sorted(v) for _, v in sorted(by_source.items())]
    chosen: list[int] = []
    for turn in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if turn < len(q) and len(chosen) < n:
                chosen.append(q[turn][2])
    return chosen
