"""Data-mixture inference from a BPE merge list (Hayase et al. 2024, arXiv 2407.16607).

Replay the tokenizer's merges on a sample of each candidate category, recording at every step the
count of the pair that was merged and of its strongest competitors; then solve the paper's linear
program (slack v_t per merge, u_p per competing pair) with scipy's HiGHS for the byte shares that
make each merge the most frequent pair at its step. Constraints are added lazily, in rounds."""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pintsize.errors import PintsizeError


class MixtureInferenceError(PintsizeError):
    pass


def load_merges(tokenizer_json: Path) -> tuple[list[tuple[str, str]], int, object]:
    """The merge list without redundant merges (SentencePiece conversions repeat resulting tokens)."""
    from tokenizers import Tokenizer

    path = tokenizer_json / "tokenizer.json" if tokenizer_json.is_dir() else tokenizer_json
    if not path.is_file():
        raise MixtureInferenceError(f"{path}: no tokenizer.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    kind = spec.get("model", {}).get("type")
    if kind != "BPE":
        raise MixtureInferenceError(f"{path}: model type is {kind}, not BPE; mixture inference needs a merge list")
    merges, seen, dropped = [], set(), 0
    for m in spec["model"].get("merges", []):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a + b in seen:  # the result already exists: a redundant merge that never fires first
            dropped += 1
            continue
        seen.add(a + b)
        merges.append((a, b))
    return merges, dropped, Tokenizer.from_file(str(path))


def read_category(path: Path, sample_bytes: int) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise MixtureInferenceError(f"{path}: matches no files")
    parts, total = [], 0
    for f in files:
        text = f.read_text(encoding="utf-8", errors="ignore")
        parts.append(text)
        total += len(text.encode("utf-8"))
        if total >= sample_bytes:
            break
    return "\n".join(parts).encode("utf-8")[:sample_bytes].decode("utf-8", errors="ignore")


def word_counts(tokenizer, text: str) -> Counter:
    """Pre-tokenized words with the tokenizer's own normalizer and pre-tokenizer."""
    if tokenizer.normalizer is not None:
        text = tokenizer.normalizer.normalize_str(text)
    pre = tokenizer.pre_tokenizer
    if pre is None:
        return Counter(text.split("\n"))
    if type(pre).__name__ == "Metaspace" and not pre.split:
        # SentencePiece conversions keep the text whole, but SentencePiece trained on whitespace-split
        # pieces (split_by_whitespace): replay on those, or one giant word makes every merge a rescan
        from tokenizers.pre_tokenizers import Metaspace

        pre = Metaspace(replacement=pre.replacement, prepend_scheme=pre.prepend_scheme, split=True)
    return Counter(w for w, _ in pre.pre_tokenize_str(text))


class Replay:
    """Incremental BPE replay on one category: pair counts and a pair -> words index (no rescans)."""

    def __init__(self, words: Counter):
        self.words = [list(w) for w in words]
        self.freq = list(words.values())
        self.pairs: Counter = Counter()
        self.where: dict[tuple[str, str], set[int]] = defaultdict(set)
        for i, w in enumerate(self.words):
            for p in zip(w, w[1:]):
                self.pairs[p] += self.freq[i]
                self.where[p].add(i)

    def top(self, k: int) -> list[tuple[str, str]]:
        return [p for p, _ in heapq.nlargest(k, self.pairs.items(), key=lambda x: x[1])]

    def merge(self, pair: tuple[str, str]) -> None:
        a, b = pair
        for i in self.where.pop(pair, ()):
            w, f = self.words[i], self.freq[i]
            for p in zip(w, w[1:]):
                self.pairs[p] -= f
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            self.words[i] = out
            for p in zip(out, out[1:]):
                self.pairs[p] += f
                self.where[p].add(i)
        self.pairs.pop(pair, None)


@dataclass
class ReplayRecord:
    """Per step t: the merge's normalized count per category, and candidate competitors' counts."""

    merge_counts: np.ndarray  # (T, n)
    competitors: list[dict[tuple[str, str], np.ndarray]] = field(default_factory=list)


def replay_categories(tokenizer, merges, texts: list[str], top_k: int = 20, progress=None) -> ReplayRecord:
    replays = [Replay(word_counts(tokenizer, t)) for t in texts]
    scale = np.array([max(len(t.encode("utf-8")), 1) for t in texts], dtype=float)
    merge_counts = np.zeros((len(merges), len(texts)))
    competitors = []
    for t, pair in enumerate(merges):
        merge_counts[t] = [r.pairs.get(pair, 0) for r in replays]
        cands = {p for r in replays for p in r.top(top_k) if p != pair}
        competitors.append({p: np.array([r.pairs.get(p, 0) for r in replays]) / scale for p in cands})
        for r in replays:
            r.merge(pair)
        if progress is not None:
            progress(t)
    return ReplayRecord(merge_counts / scale, competitors)


def solve_mixture(record: ReplayRecord, max_rounds: int = 20) -> tuple[np.ndarray, dict]:
    """The paper's LP, min Σv + Σu s.t. Σ_i α_i (c_i(m_t) - c_i(p)) + v_t + u_p ≥ 0, Σα = 1, lazily."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    T, n = record.merge_counts.shape
    all_rows = [(t, p) for t in range(T) for p in record.competitors[t]]
    pair_ids = {p: j for j, p in enumerate(sorted({p for _, p in all_rows}))}
    # start with each step's strongest competitor under a uniform mixture, then add violated rows
    active = set()
    for t in range(T):
        if record.competitors[t]:
            active.add((t, max(record.competitors[t], key=lambda p: record.competitors[t][p].sum())))
    alpha = np.full(n, 1.0 / n)
    for rounds in range(1, max_rounds + 1):
        rows = sorted(active, key=lambda r: (r[0], pair_ids[r[1]]))
        nv = n + T + len(pair_ids)
        data, ri, ci = [], [], []
        for k, (t, p) in enumerate(rows):
            diff = record.merge_counts[t] - record.competitors[t][p]
            for i in range(n):  # as ≤ rows: -(Σ α diff) - v_t - u_p ≤ 0
                data.append(-diff[i]); ri.append(k); ci.append(i)
            data += [-1.0, -1.0]; ri += [k, k]; ci += [n + t, n + T + pair_ids[p]]
        A = coo_matrix((data, (ri, ci)), shape=(len(rows), nv)).tocsr() if rows else None
        cost = np.r_[np.zeros(n), np.ones(T + len(pair_ids))]
        res = linprog(cost, A_ub=A, b_ub=np.zeros(len(rows)) if rows else None,
                      A_eq=np.r_[np.ones(n), np.zeros(T + len(pair_ids))][None], b_eq=[1.0],
                      bounds=(0, None), method="highs")
        if res.status != 0:
            raise MixtureInferenceError(f"linear program failed: {res.message}")
        alpha, v, u = res.x[:n], res.x[n:n + T], res.x[n + T:]
        violated = {(t, p) for (t, p) in all_rows if (t, p) not in active
                    and alpha @ (record.merge_counts[t] - record.competitors[t][p]) + v[t] + u[pair_ids[p]] < -1e-12}
        if not violated:
            break
        active |= violated
    return alpha, {"rounds": rounds, "constraints": len(active), "candidate_constraints": len(all_rows), "objective": float(res.fun)}


def infer_mixture(tokenizer_path: Path, categories: dict[str, Path], merges: int | None = None,
                  sample_bytes: int = 2_000_000, top_k: int = 20, progress=None) -> dict:
    merge_list, dropped, tokenizer = load_merges(tokenizer_path)
    if merges is not None:
        merge_list = merge_list[:merges]
    texts = {}
    for name, path in categories.items():
        texts[name] = read_category(path, sample_bytes)
        if len(texts[name].encode("utf-8")) < 20 * len(merge_list):
            raise MixtureInferenceError(f"category {name} ({path}): {len(texts[name].encode())} bytes of text is too little "
                                        f"for {len(merge_list)} merges (need at least {20 * len(merge_list)})")
    record = replay_categories(tokenizer, merge_list, list(texts.values()), top_k, progress)
    alpha, lp = solve_mixture(record)
    alpha = np.clip(alpha, 0, None)
    alpha = alpha / alpha.sum()
    return {"tokenizer": str(tokenizer_path), "merges_used": len(merge_list), "redundant_merges_dropped": dropped,
            "sample_bytes": {k: len(v.encode("utf-8")) for k, v in texts.items()},
            "proportions": dict(zip(texts, map(float, alpha))), "lp": lp}


def write_mixture(result: dict, out: Path) -> tuple[Path, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "mixture.json", out / "mixture.png"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
    tmp.rename(json_path)
    fig, ax = plt.subplots(figsize=(6, 3))
    names, vals = list(result["proportions"]), list(result["proportions"].values())
    ax.barh(names, vals)
    ax.set_xlabel("inferred byte share")
    ax.set_title(f"mixture inferred from {result['merges_used']} merges")
    fig.tight_layout()
    fig.savefig(png_path.with_suffix(".tmp.png"))
    plt.close(fig)
    png_path.with_suffix(".tmp.png").rename(png_path)
    return json_path, png_path
