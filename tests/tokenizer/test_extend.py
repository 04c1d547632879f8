"""`pintsize tokenizer extend`: old ids, merges and encodings unchanged, every added token encodes
its own string to itself and is used on the text it was learned from, the new text compressed better."""

from __future__ import annotations

import json
import sysconfig
from collections import Counter
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from pintsize.errors import PintsizeError
from pintsize.tokenizer.extend import _merge_pair, extend_tokenizer, learn_merges


def _code_jsonl(path: Path, files: list[str]) -> Path:
    """Python source from the standard library: a domain the docs-trained BPE has not seen much."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    path.write_text("".join(json.dumps({"text": (stdlib / f).read_text()}) + "\n" for f in files))
    return path


@pytest.fixture(scope="module")
def extended(tmp_path_factory, bpe_dir):
    d = tmp_path_factory.mktemp("ext")
    train = _code_jsonl(d / "train.jsonl", ["json/decoder.py", "json/encoder.py", "textwrap.py", "shlex.py", "fnmatch.py"])
    held = _code_jsonl(d / "held.jsonl", ["json/scanner.py", "glob.py"])
    out = d / "extended"
    stats = extend_tokenizer(bpe_dir, train, out, 200)
    return out, stats, held


def test_old_ids_kept_and_new_ones_appended(bpe_dir, extended):
    out, stats, _ = extended
    old, new = Tokenizer.from_file(str(bpe_dir / "tokenizer.json")), Tokenizer.from_file(str(out / "tokenizer.json"))
    old_vocab, new_vocab = old.get_vocab(with_added_tokens=True), new.get_vocab(with_added_tokens=True)
    assert stats["added"] == 200
    assert all(new_vocab[t] == i for t, i in old_vocab.items())
    assert sorted(i for t, i in new_vocab.items() if t not in old_vocab) == list(range(len(old_vocab), len(old_vocab) + 200))


def test_old_merges_kept_and_new_ones_appended(bpe_dir, extended):
    out, _, _ = extended
    old_merges = json.loads((bpe_dir / "tokenizer.json").read_text())["model"]["merges"]
    new_merges = json.loads((out / "tokenizer.json").read_text())["model"]["merges"]
    assert new_merges[: len(old_merges)] == old_merges and len(new_merges) == len(old_merges) + 200


def test_every_added_token_encodes_its_own_string_to_itself(bpe_dir, extended):
    out, _, _ = extended
    old, new = Tokenizer.from_file(str(bpe_dir / "tokenizer.json")), Tokenizer.from_file(str(out / "tokenizer.json"))
    added = {t: i for t, i in new.get_vocab(with_added_tokens=True).items() if t not in old.get_vocab(with_added_tokens=True)}
    assert len(added) == 200
    assert [t for t, i in added.items() if [p.id for p in new.model.tokenize(t)] != [i]] == []
    # and as text, through the pre-tokenizer and the byte-level mapping (tokens that are whole characters)
    texts = {i: new.decode([i]) for i in added.values()}
    whole = [i for i, text in texts.items() if "\ufffd" not in text]
    assert len(whole) > 150
    assert [texts[i] for i in whole if new.encode(texts[i], add_special_tokens=False).ids != [i]] == []


def test_added_tokens_are_used_on_the_text_they_were_learned_from(extended):
    out, _, _ = extended
    new = Tokenizer.from_file(str(out / "tokenizer.json"))
    first_new = new.get_vocab_size(with_added_tokens=True) - 200
    train = [json.loads(l)["text"] for l in (out.parent / "train.jsonl").read_text().splitlines()]
    used = {i for e in new.encode_batch(train, add_special_tokens=False) for i in e.ids if i >= first_new}
    assert len(used) >= 160
    # each new merge joined a pair seen at least twice in this text, so a token that is not in the
    # encoding was merged on, every time, into a later added token
    parts = {p for m in json.loads((out / "tokenizer.json").read_text())["model"]["merges"][-200:] for p in _merge_pair(m)}
    assert all(new.id_to_token(i) in parts for i in range(first_new, first_new + 200) if i not in used)


def test_continued_bpe_by_hand():
    words = Counter({("a", "b", "c"): 5, ("b", "c"): 3, ("a", "b"): 1})
    # pairs: (a,b) 6, (b,c) 8 -> "bc"; then (a,bc) 5 -> "abc"; (a,b) 1 is below the minimum count
    assert learn_merges(words, {"a", "b", "c"}, 10) == [("b", "c"), ("a", "bc")]
    # a pair whose result is already a token is not learned again: (a,b) 6 -> "ab"; (ab,c) 5 -> "abc"
    assert learn_merges(words, {"a", "b", "c", "bc"}, 10) == [("a", "b"), ("ab", "c")]
    assert learn_merges(words, {"a", "b", "c"}, 1) == [("b", "c")]


def test_old_encodings_unchanged_where_no_new_merge_applies(bpe_dir, extended, docs_corpus):
    out, _, held = extended
    old, new = Tokenizer.from_file(str(bpe_dir / "tokenizer.json")), Tokenizer.from_file(str(out / "tokenizer.json"))
    merges = json.loads((out / "tokenizer.json").read_text())["model"]["merges"]
    n_old = len(json.loads((bpe_dir / "tokenizer.json").read_text())["model"]["merges"])
    new_pairs = {tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in merges[n_old:]}
    texts = [json.loads(l)["text"] for l in docs_corpus.read_text().splitlines()[:15]]
    texts += [json.loads(l)["text"] for l in held.read_text().splitlines()]
    unchanged = 0
    for text in texts:
        for word, _ in old.pre_tokenizer.pre_tokenize_str(text):  # word by word: BPE never merges across
            o = old.model.tokenize(word)
            if not any((a.value, b.value) in new_pairs for a, b in zip(o, o[1:])):
                assert [t.id for t in new.model.tokenize(word)] == [t.id for t in o], word
                unchanged += 1
    assert unchanged > 500
    # new merges only join pieces, so no document gets longer
    assert all(len(new.encode(t).ids) <= len(old.encode(t).ids) for t in texts)


def test_new_tokenizer_compresses_held_out_target_text_better(bpe_dir, extended):
    out, _, held = extended
    old, new = Tokenizer.from_file(str(bpe_dir / "tokenizer.json")), Tokenizer.from_file(str(out / "tokenizer.json"))
    text = "".join(json.loads(l)["text"] for l in held.read_text().splitlines())
    assert len(new.encode(text).ids) < 0.95 * len(old.encode(text).ids)


def test_bad_add_is_one_line(tmp_path, bpe_dir, docs_corpus):
    with pytest.raises(PintsizeError, match="--add must be positive"):
        extend_tokenizer(bpe_dir, docs_corpus, tmp_path / "x", 0)
