"""Data-mixture inference from a BPE merge list (Hayase et al. 2024, arXiv 2407.16607).

Replay the tokenizer's merges on a sample of each candidate category (mixture_replay), recording at
every step the count of the merged pair and of every other pair; then solve the paper's linear program
(mixture_lp), over all pairs, for the byte shares that make each merge the most frequent pair at its step. A
bootstrap over each sample's documents gives the spread of every share."""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import numpy as np

from pintsize.tokenizer.mixture_lp import MixtureInferenceError

DOC_CHARS = 4000  # the bootstrap's unit: the sample cut into blocks of about this many characters


def load_merges(tokenizer_json: Path) -> tuple[list[list[tuple[str, str]]], int, object]:
    """The merge list as steps: one step per new token, holding every listed merge that makes it.
    SentencePiece conversions list each piece once per split into two known pieces ("abc" from
    "a"+"bc" and "ab"+"c"); encoding applies them all, so the replay does too, in one step whose
    count is their sum. Returns (steps, number of duplicate merges folded into steps, tokenizer)."""
    from tokenizers import Tokenizer

    path = tokenizer_json / "tokenizer.json" if tokenizer_json.is_dir() else tokenizer_json
    if not path.is_file():
        raise MixtureInferenceError(f"{path}: no tokenizer.json")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        kind = spec.get("model", {}).get("type")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise MixtureInferenceError(f"{path}: not a tokenizer.json ({e})") from None
    if kind != "BPE":
        raise MixtureInferenceError(f"{path}: model type is {kind}, not BPE; mixture inference needs a merge list")
    steps, step_of, duplicates = [], {}, 0
    for m in spec["model"].get("merges", []):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a + b in step_of:
            steps[step_of[a + b]].append((a, b))
            duplicates += 1
        else:
            step_of[a + b] = len(steps)
            steps.append([(a, b)])
    return steps, duplicates, Tokenizer.from_file(str(path))


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
    if pre is None or (type(pre).__name__ == "Metaspace" and not pre.split):
        return _sentencepiece_words(text, pre is not None and pre.prepend_scheme != "never")
    fast = _fast_plan(pre)
    if fast is not None:
        return _byte_level_words(text, digits=fast)
    return Counter(w for w, _ in pre.pre_tokenize_str(text))


# GPT-2's pre-tokenizer pattern and byte-to-character map, as the `tokenizers` ByteLevel uses them:
# counting the words before mapping them is ~5x faster than pre_tokenize_str (a test checks equality)
_GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@functools.cache
def _byte_chars() -> tuple[str, ...]:
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return tuple(chr(b) if b in keep else chr(next(extra)) for b in range(256))


def _sentencepiece_words(text: str, prefix: bool) -> Counter:
    """Words as SentencePiece trains on them (split_by_whitespace): each line is a sentence with a
    "▁" prefix, spaces become "▁", and a word is a run of "▁" and what follows up to the next "▁"
    (a run of spaces stays in one word, so merges such as "▁ ▁" have counts). Conversions keep the
    text whole (Metaspace split=False), which would make each line one word."""
    import regex

    words = Counter()
    for line in text.splitlines():
        if line:
            words.update(regex.findall("\u2581+[^\u2581]*|[^\u2581]+", ("\u2581" if prefix else "") + line.replace(" ", "\u2581")))
    return words


def _fast_plan(pre) -> bool | None:
    """For ByteLevel(use_regex, no prefix space), alone or after Digits(individual_digits) as
    `pintsize tokenizer train` makes it: whether digits are split off first. None: use `tokenizers`."""
    def plain(p) -> bool:
        return type(p).__name__ == "ByteLevel" and p.use_regex and not p.add_prefix_space

    if plain(pre):
        return False
    if type(pre).__name__ == "Sequence":
        try:
            first, second = pre[0], pre[1]
            pre[2]
        except IndexError:
            if type(first).__name__ == "Digits" and first.individual_digits and plain(second):
                return True
        except Exception:  # noqa: BLE001 - an unknown layout: the slow, exact path
            return None
    return None


def _byte_level_words(text: str, digits: bool = False) -> Counter:
    import regex

    if digits:  # Digits(individual_digits) isolates every numeric character before ByteLevel runs
        pat = regex.compile(_GPT2_SPLIT)
        words = Counter(w for piece in regex.split(r"(\p{N})", text) if piece for w in pat.findall(piece))
    else:
        words = Counter(regex.findall(_GPT2_SPLIT, text))
    chars, out = _byte_chars(), Counter()
    for w, f in words.items():
        out["".join(chars[b] for b in w.encode("utf-8"))] += f
    return out


def documents(text: str) -> list[str]:
    """The sample in blocks of whole lines, about DOC_CHARS each (a longer line is a block alone)."""
    docs, cur, size = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        size += len(line)
        if size >= DOC_CHARS:
            docs.append("".join(cur))
            cur, size = [], 0
    if cur:
        docs.append("".join(cur))
    return docs


def infer_mixture(tokenizer_path: Path, categories: dict[str, Path], merges: int | None = None,
                  sample_bytes: int = 2_000_000, bootstrap: int = 0, seed: int = 0,
                  progress=None) -> dict:
    """Proportions of each category; with `bootstrap` B > 0, B more replays on samples whose documents
    are drawn with replacement give each proportion a standard deviation and a 90% interval."""
    from pintsize.tokenizer.mixture_lp import solve_mixture
    from pintsize.tokenizer.mixture_replay import replay_categories

    steps, duplicates, tokenizer = load_merges(tokenizer_path)
    if merges is not None:
        steps = steps[:merges]
    docs, doc_words = {}, {}
    for name, path in categories.items():
        text = read_category(path, sample_bytes)
        size = len(text.encode("utf-8"))
        if size < 20 * len(steps):
            raise MixtureInferenceError(f"category {name} ({path}): {size} bytes of text is too little "
                                        f"for {len(steps)} merges (need at least {20 * len(steps)})")
        blocks = documents(text)
        docs[name] = [len(d.encode("utf-8")) for d in blocks]
        doc_words[name] = [word_counts(tokenizer, d) for d in blocks]
    names = list(categories)

    def solve(picks: dict[str, np.ndarray], progress=None):
        words, scale = [], []
        for k in names:
            c = Counter()
            for j in picks[k]:
                c.update(doc_words[k][j])
            words.append(c)
            scale.append(sum(docs[k][j] for j in picks[k]))
        record = replay_categories(steps, words, scale, progress)
        alpha, lp = solve_mixture(record)
        alpha = np.clip(alpha, 0, None)
        return alpha / alpha.sum(), lp, record

    alpha, lp, record = solve({k: np.arange(len(docs[k])) for k in names}, progress)
    rng = np.random.default_rng(seed)
    boots = np.array([solve({k: rng.integers(0, len(docs[k]), len(docs[k])) for k in names}, progress)[0]
                      for _ in range(bootstrap)])
    result = {"tokenizer": str(tokenizer_path), "merges_used": len(steps), "duplicate_merges_folded": duplicates,
              "sample_bytes": {k: sum(docs[k]) for k in names}, "documents": {k: len(docs[k]) for k in names},
              "proportions": dict(zip(names, map(float, alpha))),
              "lp": {k: v for k, v in lp.items() if k not in ("merge_slack", "pair_slack")},
              "conflicting_merges": conflicts(steps, lp["merge_slack"], record)}
    if bootstrap:
        lo, hi = np.percentile(boots, [5, 95], axis=0)
        result["bootstrap"] = {"replicates": bootstrap, "unit": f"documents of ~{DOC_CHARS} characters", "std": dict(zip(names, map(float, boots.std(0)))),
                               "interval_90": {k: [float(a), float(b)] for k, a, b in zip(names, lo, hi)}}
    return result


def conflicts(steps, merge_slack: np.ndarray, record, limit: int = 20) -> dict:
    """Merges whose constraints no mixture satisfies (slack v_t > 0): where the categories do not
    explain the merge order. The largest first, with their count per category."""
    bad = np.flatnonzero(merge_slack > 1e-12)
    top = bad[np.argsort(-merge_slack[bad])][:limit]
    return {"count": int(len(bad)), "total_slack": float(merge_slack.sum()),
            "largest": [{"step": int(t), "merge": " ".join(steps[t][0]), "slack": float(merge_slack[t]),
                         "counts_per_byte": (record.merge_counts[t] / record.scale).tolist()} for t in top]}


def write_mixture(result: dict, out: Path) -> tuple[Path, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "mixture.json", out / "mixture.png"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
    tmp.rename(json_path)
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(result["proportions"]) + 1.2))
    names, vals = list(result["proportions"]), np.array(list(result["proportions"].values()))
    err = None
    if "bootstrap" in result:  # asymmetric bars: the bootstrap's 90% interval around the estimate
        iv = np.array([result["bootstrap"]["interval_90"][k] for k in names])
        err = np.clip(np.stack([vals - iv[:, 0], iv[:, 1] - vals]), 0, None)
    ax.barh(names, vals, xerr=err, capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel("inferred byte share" + (" (bars: bootstrap 90% interval)" if err is not None else ""))
    ax.set_title(f"mixture inferred from {result['merges_used']} merges")
    fig.tight_layout()
    fig.savefig(png_path.with_suffix(".tmp.png"))
    plt.close(fig)
    png_path.with_suffix(".tmp.png").rename(png_path)
    return json_path, png_path
