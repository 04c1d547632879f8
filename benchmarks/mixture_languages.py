"""Mixture inference in the paper's language setting (Hayase et al. 2024, §4: mixtures of natural
languages, byte-level BPE trained by Hugging Face `tokenizers`), at the scale this machine allows:
BPEs trained on random Dirichlet(1) byte mixtures of 5 languages of rendered text, their mixtures
recovered from the merge lists, log10 MSE beside the paper's. A scaling table over the tokenizer's
training bytes and the inference sample's bytes (every tokenizer is inferred at every sample size).

    python scripts/fetch_mixture_languages.py runs/mixlang --languages de fr es it ru
    python benchmarks/mixture_languages.py runs/mixlang --protocol reference --mixtures 10 --merges 3000 \\
        --train-mb 50 5 --sample-mb 10 1 --json runs/lang/reference.json
    python benchmarks/mixture_languages.py runs/mixlang --protocol held-out --mixtures 10 --merges 3000 \\
        --train-mb 0 --sample-mb 10 1 --json runs/lang/heldout.json
    python benchmarks/mixture_languages.py - --table-of runs/lang/reference.json   # the table again, or of joined parts
    (with OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1: the tokenizer trainer's threads; --skip/--until split the mixtures)

Documents (one rendered page each) are drawn as the reference draws files (alisawuffles/tokenizer-
attack, train_mixed_tokenizer.py): in random order, the last one cut to fit. Two protocols:
- held-out (default): each language's pages are split once, at random, into an inference part
  (the first max(--sample-mb) of them) and a training part; tokenizers never see the inference
  text, and never see a page twice: a mixture's training bytes are capped where its largest share
  would need more than that language's training part (--train-mb 0: as much as that allows).
- reference: as the reference does, training text is drawn from all of a language's pages, cycling
  through them again when its share is more than its text, and the inference sample is drawn
  independently from the same pages (its frequency dump reads the folder the tokenizer trained on).
  Here, where a language has tens of MB rather than the reference's GBs, they largely overlap.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pintsize.tokenizer.mixture_inference import load_merges, word_counts
from pintsize.tokenizer.mixture_lp import solve_mixture
from pintsize.tokenizer.mixture_replay import replay_categories
from pintsize.tokenizer.train import train_bpe_backend

MB = 1_000_000
PAPER = {"languages": -7.30, "code": -6.46, "web domains": -3.41, "uniform guess": -1.67}  # n = 5, 100 mixtures


def pages(root: Path, lang: str, rng: np.random.Generator) -> list[str]:
    files = sorted((root / lang).rglob("*.txt"))
    return [files[i].read_text(encoding="utf-8") for i in rng.permutation(len(files))]


def draw(docs: list[str], nbytes: int, rng: np.random.Generator, cycle: bool) -> list[str]:
    """`nbytes` of whole documents in random order, the last one cut to fit; cycling through them
    again if `cycle`, else at most all of them once."""
    out, size = [], 0
    while size < nbytes and (cycle or not out):
        for i in rng.permutation(len(docs)):
            b = docs[i].encode("utf-8")
            take = b[: nbytes - size]
            out.append(take.decode("utf-8", errors="ignore"))
            size += len(take)
            if size >= nbytes:
                break
    return out


def prefix(docs: list[str], nbytes: int) -> list[str]:
    out, size = [], 0
    for d in docs:
        if size >= nbytes:
            break
        b = d.encode("utf-8")[: nbytes - size]
        out.append(b.decode("utf-8", errors="ignore"))
        size += len(b)
    return out


def nbytes(docs: list[str]) -> int:
    return sum(len(d.encode("utf-8")) for d in docs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--languages", nargs="+", default=["de", "fr", "es", "it", "ru"])
    ap.add_argument("--mixtures", type=int, default=10)
    ap.add_argument("--merges", type=int, default=3000)
    ap.add_argument("--train-mb", type=float, nargs="+", default=[5, 15, 50])
    ap.add_argument("--sample-mb", type=float, nargs="+", default=[2.5, 5, 10])
    ap.add_argument("--protocol", choices=["held-out", "reference"], default="held-out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", type=int, default=0, help="start at this mixture (the same Dirichlet draws): to split a run over processes")
    ap.add_argument("--until", type=int, help="stop before this mixture")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--table-of", type=Path, nargs="+", help="only print the table of these runs' JSON files, joined")
    a = ap.parse_args()
    if a.table_of:
        runs, seen = [], set()
        for r in (r for f in a.table_of for r in json.loads(f.read_text())["runs"]):  # a cell measured twice: the first
            if (key := (r["mixture"], r["train_mb"], r["sample_mb"])) not in seen:
                seen.add(key)
                runs.append(r)
        table(runs, sorted({r["train_mb"] for r in runs}, key=lambda t: t or 1e9), sorted({r["sample_mb"] for r in runs}))
        return
    rng = np.random.default_rng(a.seed)
    samples_max = int(max(a.sample_mb) * MB)
    pool, sample_docs = {}, {}
    for lang in a.languages:
        docs = pages(a.root, lang, rng)
        if a.protocol == "held-out":
            sample_docs[lang] = prefix(docs, samples_max)
            pool[lang] = docs[len(sample_docs[lang]):]
        else:
            pool[lang] = docs
            sample_docs[lang] = [docs[i] for i in rng.permutation(len(docs))]
        print(f"{lang}: {nbytes(docs) / MB:.1f} MB in {len(docs)} pages; training part {nbytes(pool[lang]) / MB:.1f} MB", flush=True)

    pool_bytes = {k: nbytes(pool[k]) for k in a.languages}
    tok0 = train_bpe_backend(["a b"], vocab_size=384)  # every tokenizer here pre-tokenizes the same way
    words: dict[tuple[str, float], tuple[Counter, int]] = {}
    for s in a.sample_mb:
        for lang in a.languages:
            docs = prefix(sample_docs[lang], int(s * MB))
            words[lang, s] = (word_counts(tok0, "\n".join(docs)), nbytes(docs) + len(docs) - 1)

    runs, out = [], {"protocol": a.protocol, "languages": a.languages, "merges": a.merges, "paper_log10_mse": PAPER,
                      "language_mb": {k: pool_bytes[k] / MB for k in a.languages}}
    mixes = np.random.default_rng(a.seed + 1).dirichlet(np.ones(len(a.languages)), a.mixtures)  # Dirichlet(1): uniform on the simplex
    for m, share in enumerate(mixes):
        if m < a.skip or (a.until is not None and m >= a.until):
            continue
        room = min(pool_bytes[k] / w for k, w in zip(a.languages, share))  # training bytes without repeating a page
        for t_mb in a.train_mb:
            total = t_mb * MB if a.protocol == "reference" else min(t_mb * MB or room, room)
            docs, got = [], []
            for lang, w in zip(a.languages, share):
                part = draw(pool[lang], int(round(w * total)), rng, cycle=a.protocol == "reference") if w * total >= 1 else []
                docs += part
                got.append(nbytes(part))
            unique = sum(min(g, pool_bytes[k]) for g, k in zip(got, a.languages))
            truth = np.array(got, float) / sum(got)  # the byte shares actually trained on
            t0 = time.process_time()
            tok = train_bpe_backend(docs, vocab_size=256 + 4 + a.merges + 64 + 64)
            train_s = time.process_time() - t0
            del docs
            with tempfile.TemporaryDirectory() as tmp:
                tok.save(f"{tmp}/tokenizer.json")
                steps = load_merges(Path(tmp))[0][: a.merges]
            for s in a.sample_mb:
                t1 = time.process_time()
                rec = replay_categories(steps, [words[k, s][0] for k in a.languages], [words[k, s][1] for k in a.languages])
                alpha, lp = solve_mixture(rec)
                alpha = np.clip(alpha, 0, None) / np.clip(alpha, 0, None).sum()
                mse, uni = float(np.mean((alpha - truth) ** 2)), float(np.mean((1 / len(truth) - truth) ** 2))
                row = {"mixture": m, "train_mb": t_mb, "train_unique_mb": unique / MB, "sample_mb": s, "truth": truth.round(5).tolist(),
                       "inferred": alpha.round(5).tolist(), "log10_mse": float(np.log10(max(mse, 1e-15))), "log10_mse_uniform": float(np.log10(uni)),
                       "train_tokenizer_cpu_s": train_s, "infer_cpu_s": time.process_time() - t1,
                       "lp": {k: v for k, v in lp.items() if "slack" not in k}}
                runs.append(row)
                print(f"mixture {m} train {t_mb:g} MB ({unique / MB:.1f} unique) sample {s:g} MB: log10 MSE {row['log10_mse']:.2f} "
                      f"(uniform {row['log10_mse_uniform']:.2f}); tokenizer {train_s:.0f} s, inference {row['infer_cpu_s']:.0f} CPU s, "
                      f"{lp['rounds']} LP rounds", flush=True)
            if a.json:
                a.json.write_text(json.dumps({**out, "runs": runs}, indent=1))
    table(runs, a.train_mb, a.sample_mb)


def table(runs: list[dict], train_mb: list[float], sample_mb: list[float]) -> None:
    """Mean log10 MSE over the mixtures: rows = tokenizer training MB, columns = sample MB per language;
    each cell with its standard deviation over mixtures and its number of mixtures."""
    uniform = {r["mixture"]: r["log10_mse_uniform"] for r in runs}
    print(f"\nmean log10 MSE (paper, languages: {PAPER['languages']}; uniform guess here {np.mean(list(uniform.values())):.2f} "
          f"over {len(uniform)} mixtures)")
    print("| training MB asked (mean unique MB trained on) | " + " | ".join(f"sample {s:g} MB/language" for s in sample_mb) + " |")
    print("|---" * (1 + len(sample_mb)) + "|")
    for t in train_mb:
        cells = [[r["log10_mse"] for r in runs if r["train_mb"] == t and r["sample_mb"] == s] for s in sample_mb]
        unique = np.mean([r["train_unique_mb"] for r in runs if r["train_mb"] == t])
        head = f"| {t:g} ({unique:.1f}) | " if t else f"| all the held-out text allows ({unique:.1f}) | "
        print(head + " | ".join(f"{np.mean(c):.2f} (sd {np.std(c):.2f}, n={len(c)})" if c else "" for c in cells) + " |")


if __name__ == "__main__":
    main()
