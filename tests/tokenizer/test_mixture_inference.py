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


def _random_case(seed: int = 1, steps: int = 25):
    """Three small categories of words over a tiny alphabet, and a greedy merge list on their union,
    with one step that lists two splits of its result (as SentencePiece conversions do)."""
    rng = random.Random(seed)
    alphabet = ["ab", "aab", "ba", "abab", "aaa", "b", "bba", "abba", "c", "cab", "aaaa"]
    cats = [Counter({"".join(rng.choices(alphabet, k=rng.randint(1, 4))): rng.randint(1, 9) for _ in range(60)}) for _ in range(3)]
    merges, segs = [], [[(list(w), f) for w, f in c.items()] for c in cats]
    for _ in range(steps):
        (a, b), _ = max(_brute_counts([s for cat in segs for s in cat]).items(), key=lambda x: (x[1], x[0]))
        merges.append([(a, b)])
        segs = [[(_brute_merge(w, a, b), f) for w, f in cat] for cat in segs]
    for group in merges:
        r = group[0][0] + group[0][1]
        if len(r) >= 3 and (r[:-1], r[-1]) != group[0]:
            group.append((r[:-1], r[-1]))
            break
    assert any(len(g) == 2 for g in merges)
    return cats, merges


def _brute_replay(cats: list[Counter], merges) -> list[list[Counter]]:
    """Every step's pair counts per category, recounted from scratch."""
    segs, out = [[(list(w), f) for w, f in c.items()] for c in cats], []
    for group in merges:
        out.append([_brute_counts(cat) for cat in segs])
        for a, b in group:
            segs = [[(_brute_merge(w, a, b), f) for w, f in cat] for cat in segs]
    return out


def test_fast_replay_matches_a_brute_force_recount():
    """At every step, the record holds exactly the from-scratch counts of every pair in every
    category (and nothing for pairs that are gone), and the merge's count summed over its group."""
    from pintsize.tokenizer.mixture_replay import SHIFT, replay_categories

    cats, merges = _random_case()
    rec = replay_categories(merges, cats, [1, 1, 1])
    sym = rec.symbols
    for t, (group, brute) in enumerate(zip(merges, _brute_replay(cats, merges))):
        assert list(rec.merge_counts[t]) == [sum(b[p] for p in group) for b in brute]
        got = {sym.pair_name(k): list(c) for k, c in rec.counts_at(t).items()}
        want = {p: [b[p] for b in brute] for p in set().union(*brute) if any(b[p] for b in brute)}
        assert got == want, t
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


def _full_lp(brute: list[list[Counter]], merges, scale: np.ndarray, top_k: int | None = None):
    """The paper's LP with every competing pair at every step at once (scipy's HiGHS); with `top_k`,
    only each category's k most frequent competitors per step, as the old replay kept them."""
    from scipy.optimize import linprog

    n, T = len(scale), len(merges)
    rows, pairs = [], {}
    for t, (group, counts) in enumerate(zip(merges, brute)):
        comp = set().union(*counts) - set(group)
        if top_k is not None:
            comp = {p for c in counts for p in sorted((q for q in comp if c[q]), key=lambda q: -c[q])[:top_k]}
        for p in sorted(comp):
            diff = np.array([sum(c[m] for m in group) - c[p] for c in counts]) / scale
            rows.append((t, pairs.setdefault(p, len(pairs)), diff))
    a_ub = np.zeros((len(rows), n + T + len(pairs)))
    for r, (t, p, diff) in enumerate(rows):
        a_ub[r, :n], a_ub[r, n + t], a_ub[r, n + T + p] = -diff, -1, -1
    res = linprog(np.r_[np.zeros(n), np.ones(T + len(pairs))], A_ub=a_ub, b_ub=np.zeros(len(rows)),
                  A_eq=np.r_[np.ones(n), np.zeros(T + len(pairs))][None], b_eq=[1.0], method="highs")
    assert res.status == 0
    return res.x[:n], res.fun, rows, pairs


def test_lazy_lp_over_all_pairs_equals_the_full_lp():
    """The lazy LP, with slack rows deleted every round (max_rows=0) or never, 1 to 50 rows per step
    and round, or at most 3 rows a round (the reference's max_add), reaches the optimum of the full LP
    over every pair at every step (brute-force counts, scipy's HiGHS), and its solution violates none
    of the full LP's constraints: no setting of the search changes the answer."""
    from pintsize.tokenizer.mixture_lp import solve_mixture
    from pintsize.tokenizer.mixture_replay import replay_categories

    cats, merges = _random_case(seed=3, steps=30)
    scale = np.array([3e3, 5e3, 2e3])
    _, best, rows, pairs = _full_lp(_brute_replay(cats, merges), merges, scale)
    rec = replay_categories(merges, cats, scale)
    for per_step, max_rows, max_add in ((1, 0, None), (1, None, None), (50, None, None), (2, None, 3)):
        alpha, info = solve_mixture(rec, per_step=per_step, max_rows=max_rows, max_add=max_add)
        assert info["converged"] and alpha.sum() == pytest.approx(1.0)
        assert info["objective"] == pytest.approx(best, rel=1e-6, abs=1e-12)
        sym = {rec.symbols.pair_name(k): u for k, u in info["pair_slack"].items()}
        name = {i: p for p, i in pairs.items()}
        assert min(d @ alpha + info["merge_slack"][t] + sym.get(name[i], 0.0) for t, i, d in rows) > -1e-12


def test_a_pair_outside_every_categorys_top_k_still_constrains_the_mixture():
    """Category A has 21 pairs of count 100, B another 21; the merge "m n" has 40 in each, and "x y"
    has 75 in A and 45 in B: in neither category's top 20, yet under a mixed α it beats the merge
    (60 against 40 at α = (0.5, 0.5)). By hand, with x = α_A (counts per MB), the merge has 40 and
    the violations are 100x - 40 (A's pairs), 60 - 100x (B's pairs) and 45 + 30x - 40 ("x y"). One
    slack v_t covers a whole step, so the LP minimizes the largest violation: without "x y" (the
    top-20 record) at x = 0.5, objective 10; with it where 60 - 100x = 5 + 30x: x = 55/130,
    objective 60 - 5500/130."""
    from pintsize.tokenizer.mixture_lp import solve_mixture
    from pintsize.tokenizer.mixture_replay import replay_categories

    marks = "0123456789ABCDEFGHIJK"
    cats = [Counter({**{"a" + c: 100 for c in marks}, "mn": 40, "xy": 75}),
            Counter({**{"b" + c: 100 for c in marks}, "mn": 40, "xy": 45})]
    merges, scale = [[("m", "n")]], np.array([1e6, 1e6])
    alpha, info = solve_mixture(replay_categories(merges, cats, scale))
    assert alpha[0] == pytest.approx(55 / 130, abs=1e-9)
    assert info["objective"] * 1e6 == pytest.approx(60 - 5500 / 130, rel=1e-9)
    brute = _brute_replay(cats, merges)
    assert tuple(_full_lp(brute, merges, scale)[0]) == pytest.approx((55 / 130, 75 / 130))
    assert tuple(_full_lp(brute, merges, scale, top_k=20)[0]) == pytest.approx((0.5, 0.5))  # what top-20 gave
