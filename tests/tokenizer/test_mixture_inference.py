"""Mixture inference recovers a known 3-category byte mixture from a BPE trained here."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.tokenizer.mixture_inference import MixtureInferenceError, infer_mixture

SIZE = 400_000  # bytes of each category's text: half trains the tokenizer, the other half is the sample


def _categories() -> dict[str, str]:
    prose = "\n".join(d["text"] for d in pydoc_documents(limit=80))
    code = "\n".join(p.read_text(encoding="utf-8", errors="ignore") for p in sorted(Path(random.__file__).parent.glob("*.py"))[:60])
    rng = random.Random(0)
    table = "\n".join(",".join(f"{rng.randint(0, 99999)}" for _ in range(8)) + f";id{rng.randint(0, 999)}" for _ in range(40_000))
    return {k: v.encode()[:SIZE].decode(errors="ignore") for k, v in {"prose": prose, "code": code, "table": table}.items()}


def _train_bpe(texts: dict[str, str], shares: dict[str, float], budget: int, path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + 400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    mix = [texts[k].encode()[: int(shares[k] * budget)].decode(errors="ignore") for k in texts]
    tok.train_from_iterator(mix, trainer)
    tok.save(str(path))


def test_recovers_known_three_category_mixture(tmp_path):
    cats = _categories()
    truth = {"prose": 0.55, "code": 0.3, "table": 0.15}
    train = {k: v[: len(v) // 2] for k, v in cats.items()}
    sample_dirs = {}
    for k, v in cats.items():
        (tmp_path / k).mkdir()
        (tmp_path / k / "sample.txt").write_text(v[len(v) // 2:], encoding="utf-8")
        sample_dirs[k] = tmp_path / k
    _train_bpe(train, truth, budget=len(train["table"]), path=tmp_path / "tokenizer.json")
    result = infer_mixture(tmp_path / "tokenizer.json", sample_dirs, merges=300)
    got = np.array([result["proportions"][k] for k in truth])
    want = np.array(list(truth.values()))
    mse = float(np.mean((got - want) ** 2))
    uniform = float(np.mean((1 / 3 - want) ** 2))
    assert mse < 1e-3, (result["proportions"], mse)  # stated tolerance: log10 MSE below -3
    assert mse < uniform / 10


def test_not_bpe_is_one_clear_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {}}}))
    with pytest.raises(MixtureInferenceError, match="WordPiece, not BPE"):
        infer_mixture(path, {"a": tmp_path})


def test_empty_category_and_too_little_text(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MixtureInferenceError, match="matches no files"):
        infer_mixture(tmp_path / "tokenizer.json", {"x": tmp_path / "empty"})
    (tmp_path / "small.txt").write_text("ab")
    with pytest.raises(MixtureInferenceError, match="too little"):
        infer_mixture(tmp_path / "tokenizer.json", {"x": tmp_path / "small.txt"})


def _brute_counts(segs: list[tuple[list[str], int]]) -> Counter:
    c = Counter()
    for w, f in segs:
        for p in zip(w, w[1:]):
            c[p] += f
    return c


def _brute_merge(w: list[str], a: str, b: str) -> list[str]:
    out, j = [], 0
    while j < len(w):
        if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
            out.append(a + b)
            j += 2
        else:
            out.append(w[j])
            j += 1
    return out


def test_fast_replay_matches_a_brute_force_recount():
    """At every step, the recorded counts equal a from-scratch recount of the current segmentation,
    and each category's top-k competitors (up to ties) are among the recorded candidates."""
    from pintsize.tokenizer.mixture_replay import SHIFT, replay_categories

    rng = random.Random(1)
    alphabet = ["ab", "aab", "ba", "abab", "aaa", "b", "bba", "abba", "c", "cab", "aaaa"]
    cats = [Counter({"".join(rng.choices(alphabet, k=rng.randint(1, 4))): rng.randint(1, 9) for _ in range(60)}) for _ in range(3)]
    counts = _brute_counts([(list(w), f) for c in cats for w, f in c.items()])
    steps, made = [], set()
    segs = [[(list(w), f) for w, f in c.items()] for c in cats]
    for _ in range(25):  # a greedy merge list on the union, with a duplicate-result group now and then
        (a, b), _ = max(_brute_counts([s for cat in segs for s in cat]).items(), key=lambda x: (x[1], x[0]))
        steps.append([(a, b)])
        segs = [[(_brute_merge(w, a, b), f) for w, f in cat] for cat in segs]
    for group in steps:  # a second split of one result, as SentencePiece conversions list
        r = group[0][0] + group[0][1]
        if len(r) >= 3 and (r[:-1], r[-1]) != group[0]:
            group.append((r[:-1], r[-1]))
            break
    assert any(len(g) == 2 for g in steps)
    k = 3
    rec = replay_categories(steps, cats, [1, 1, 1], top_k=k)
    segs = [[(list(w), f) for w, f in c.items()] for c in cats]
    sym = rec.symbols
    for t, group in enumerate(steps):
        brute = [_brute_counts(cat) for cat in segs]
        assert list(rec.merge_counts[t]) == [sum(b[p] for p in group) for b in brute]
        rows = np.flatnonzero(rec.cand_step == t)
        cands = {sym.pair_name(int(rec.cand_pair[r])): rec.cand_counts[r] for r in rows}
        for p, got in cands.items():
            assert list(got) == [b[p] for b in brute], (t, p)
        for i, b in enumerate(brute):
            rest = sorted((c for p, c in b.items() if p not in group), reverse=True)
            if len(rest) > k:
                assert all(p in cands for p, c in b.items() if p not in group and c > rest[k - 1]), (t, i)
        for a, bb in group:
            segs = [[(_brute_merge(w, a, bb), f) for w, f in cat] for cat in segs]
    assert SHIFT > len(sym.names)


def test_duplicate_merges_fold_into_one_step(tmp_path):
    """A SentencePiece-style merge list names "abc" twice (a+bc, ab+c): one step, both applied."""
    from pintsize.tokenizer.mixture_inference import load_merges

    path = tmp_path / "tokenizer.json"
    vocab = {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5}
    path.write_text(json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": vocab,
                                "merges": ["a b", "b c", "a bc", "ab c"]}}))
    steps, duplicates, _ = load_merges(path)
    assert steps == [[("a", "b")], [("b", "c")], [("a", "bc"), ("ab", "c")]] and duplicates == 1


def test_bootstrap_spread_is_zero_on_identical_documents_and_positive_otherwise(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from pintsize.tokenizer import mixture_inference

    rng = random.Random(0)
    words = {"x": ["the", "then", "there", "other"], "y": ["def", "define", "self", "elf"]}
    line = {k: " ".join(v * 3) + "\n" for k, v in words.items()}
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=256 + 30, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([line["x"] * 70, line["y"] * 30], trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    mixture_inference.DOC_CHARS, old = 200, mixture_inference.DOC_CHARS
    try:
        for k in words:  # identical documents: every resample is the same text, scaled
            (tmp_path / k).mkdir()
            (tmp_path / k / "s.txt").write_text(line[k] * 40)
        same = infer_mixture(tmp_path / "tokenizer.json", {k: tmp_path / k for k in words}, merges=20, bootstrap=4)
        assert max(same["bootstrap"]["std"].values()) < 1e-9
        for k in words:  # documents of varying make-up: resamples differ
            (tmp_path / k / "s.txt").write_text("".join(" ".join(rng.choices(words[k], k=rng.randint(3, 30))) + "\n" for _ in range(200)))
        varied = infer_mixture(tmp_path / "tokenizer.json", {k: tmp_path / k for k in words}, merges=20, bootstrap=4)
    finally:
        mixture_inference.DOC_CHARS = old
    assert max(varied["bootstrap"]["std"].values()) > 0
    for k, (lo, hi) in varied["bootstrap"]["interval_90"].items():
        assert 0 <= lo <= hi <= 1


def test_fast_byte_level_word_count_equals_the_tokenizers_pre_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    from pintsize.tokenizer.mixture_inference import _byte_level_words, _fast_plan

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    text = "Grüße, naïve café's 12345 x=1;\n\n   def f(a):\n\treturn a  # 日本語 🙂\r\n  end  \n" * 3 + "it'll we've"
    want = Counter(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(text))
    assert _byte_level_words(text) == want
    digits = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    assert _byte_level_words(text + " x2024y ½ ٣٤ a  2 b \t7", digits=True) == Counter(w for w, _ in digits.pre_tokenize_str(text + " x2024y ½ ٣٤ a  2 b \t7"))
    assert _fast_plan(digits) is True and _fast_plan(tok.pre_tokenizer) is False
    assert _fast_plan(pre_tokenizers.ByteLevel(add_prefix_space=True)) is None


def _three_source_run(tmp_path):
    """A corpus of three sources with uneven byte shares, and a tokenizer trained on it."""
    from pintsize.tokenizer.train import train_tokenizer

    cats = _categories()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, share in {"prose": 120_000, "code": 60_000, "table": 20_000}.items():
        text = cats[name][:share]
        docs = [text[i:i + 2000] for i in range(0, len(text), 2000)]
        (corpus / f"{name}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    train_tokenizer(corpus, tmp_path / "tok", 512)
    return corpus, tmp_path / "tok"


def test_run_check_sets_the_inferred_mixture_beside_the_corpus_shares(tmp_path):
    """The report's check: a tokenizer trained by `pintsize tokenizer train` on a 3-source corpus;
    the inferred shares match the sources' byte shares of its training text."""
    from pintsize.report.tokenizer_section import render_mixture_check
    from pintsize.tokenizer.mixture_check import mixture_check

    corpus, tok = _three_source_run(tmp_path)
    check = mixture_check(tok, corpus)
    known = np.array([v["known"] for v in check["sources"].values()])
    assert abs(known.sum() - 1) < 1e-9 and known.max() > 0.5  # the real byte shares, uneven
    assert check["log10_mse"] < -3 and check["log10_mse"] < check["log10_mse_uniform"] - 1, check
    assert "inferred from its first" in render_mixture_check(check)


def test_tokenizer_compare_shows_the_check_and_skips_other_corpora(tmp_path, pints_dir):
    """`pintsize tokenizer compare` prints (and writes) the same check; a tokenizer that was not
    trained on the given corpus, or not trained here at all, gets a reason instead of numbers."""
    import shutil

    from typer.testing import CliRunner

    from pintsize.cli import app
    from pintsize.tokenizer.mixture_check import mixture_check

    corpus, tok = _three_source_run(tmp_path)
    out = tmp_path / "cmp"
    r = CliRunner().invoke(app, ["tokenizer", "compare", str(tok), str(pints_dir), "--corpus", str(corpus), "--out", str(out)], terminal_width=220)
    assert r.exit_code == 0, r.output
    checks = json.loads((out / "compare.json").read_text())["mixture_checks"]
    assert checks["pints"] is None and "no known mixture" in r.output
    assert checks["tok"]["sources"]["code"]["inferred"] == pytest.approx(mixture_check(tok, corpus)["sources"]["code"]["inferred"], abs=1e-6)
    assert f"{checks['tok']['sources']['prose']['inferred']:.3f}" in r.output

    elsewhere = tmp_path / "copy"
    shutil.copytree(corpus, elsewhere)
    assert "not on" in mixture_check(tok, elsewhere)["error"]


def test_sentencepiece_words_keep_space_runs_and_prefix_each_line():
    from pintsize.tokenizer.mixture_inference import _sentencepiece_words

    got = _sentencepiece_words("Hello  world\n\nsee   it go", prefix=True)
    assert got == Counter({"▁Hello": 1, "▁▁world": 1, "▁see": 1, "▁▁▁it": 1, "▁go": 1})


def test_lazy_lp_with_row_deletion_equals_the_full_lp():
    """The lazy LP, with slack rows deleted every round (max_rows=0) or never, reaches the optimum of
    the full LP (every candidate constraint at once, scipy's HiGHS) and leaves no candidate violated."""
    from scipy.optimize import linprog

    from pintsize.tokenizer.mixture_lp import solve_mixture
    from pintsize.tokenizer.mixture_replay import ReplayRecord

    rng = np.random.default_rng(0)
    T, n, k, pairs = 100, 3, 20, 60
    truth = np.array([0.5, 0.3, 0.2])
    merge = rng.integers(50, 400, (T, n))
    step = np.repeat(np.arange(T, dtype=np.int32), k)
    pair = rng.integers(0, pairs, T * k).astype(np.int64)
    counts = rng.integers(0, 400, (T * k, n))
    counts[(counts @ truth) > merge[step] @ truth] //= 3  # mostly explainable by `truth`, not entirely
    scale = np.array([1e6, 2e6, 5e5])
    rec = ReplayRecord(merge, step, pair, counts, scale, None)
    ids, col = np.unique(pair, return_inverse=True)
    P, R = len(ids), len(step)
    diff = (merge[step] - counts) / scale
    a_ub = np.zeros((R, n + T + P))
    a_ub[:, :n] = -diff
    a_ub[np.arange(R), n + step] = -1
    a_ub[np.arange(R), n + T + col] = -1
    full = linprog(np.r_[np.zeros(n), np.ones(T + P)], A_ub=a_ub, b_ub=np.zeros(R),
                   A_eq=np.r_[np.ones(n), np.zeros(T + P)][None], b_eq=[1.0], method="highs")
    assert full.status == 0
    for max_rows in (0, None):
        alpha, info = solve_mixture(rec, per_step=1, max_rows=max_rows)
        assert info["converged"]
        assert info["objective"] == pytest.approx(full.fun, rel=1e-6, abs=1e-12)
        v, u = info["merge_slack"], np.array([info["pair_slack"][p] for p in pair])
        assert (diff @ alpha + v[step] + u).min() > -1e-12
        assert alpha.sum() == pytest.approx(1.0)
