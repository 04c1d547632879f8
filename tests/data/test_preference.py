"""Preference pairs: strings or messages, the prompt stripped from whole-conversation replies,
bad pairs counted by reason, and only the reply's tokens as targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pintsize.data.chat_tokens import ChatEncoder, EncodedChat
from pintsize.data.docs_chat import preference_pairs
from pintsize.data.json_records import DataReport, Invalid, Rejected
from pintsize.data.preference import EncodedPair, PreferencePair, encode_pairs, fit_pair, read_pairs
from pintsize.errors import DataError


@pytest.fixture(scope="module")
def pairs():
    """Real pairs: a function's own documentation (chosen) against another function's (rejected)."""
    return preference_pairs(20)


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def test_strings_messages_and_whole_conversations_mean_the_same_pair(tmp_path, pairs):
    p = pairs[0]
    as_strings = p
    as_messages = {"prompt": [user(p["prompt"])], "chosen": [assistant(p["chosen"])], "rejected": [assistant(p["rejected"])]}
    whole = {
        "prompt": p["prompt"],
        "chosen": [user(p["prompt"]), assistant(p["chosen"])],
        "rejected": [user(p["prompt"]), assistant(p["rejected"])],
    }
    read = list(read_pairs([write_jsonl(tmp_path / "p.jsonl", [as_strings, as_messages, whole])]))
    assert all(isinstance(r, PreferencePair) for r in read)
    expected = ([user(p["prompt"])], [assistant(p["chosen"])], [assistant(p["rejected"])])
    assert {(str(r.prompt), str(r.chosen), str(r.rejected)) for r in read} == {tuple(map(str, expected))}


def test_bad_pairs_are_counted_by_reason(tmp_path, pairs):
    p, q = pairs[0], pairs[1]
    records = [
        p,
        {**q, "rejected": q["chosen"]},  # identical
        {"prompt": p["prompt"], "chosen": [user("and?")], "rejected": p["rejected"]},  # no assistant turn
        {"prompt": [user(p["prompt"]), assistant(p["chosen"])], "chosen": p["chosen"], "rejected": p["rejected"]},
        {"prompt": p["prompt"], "chosen": [assistant(p["chosen"]), user("more?")], "rejected": p["rejected"]},
        {"prompt": p["prompt"], "chosen": p["chosen"]},  # no rejected
        "not json",
        {"prompt": p["prompt"], "chosen": 3, "rejected": p["rejected"]},
    ]
    report = DataReport()
    for item in read_pairs([write_jsonl(tmp_path / "mixed.jsonl", records)]):
        report.records += 1
        if isinstance(item, Rejected):
            report.reject(item)
        else:
            report.kept += 1
    summary = report.to_dict()
    assert summary["records"] == len(records) == summary["kept"] + summary["skipped"] + summary["quarantined"]
    assert summary["kept"] == 1
    assert summary["skipped_by_reason"] == {
        "chosen and rejected are identical": 1,
        "no assistant turn in 'chosen'": 1,
        "roles out of order": 1,
        "'chosen' ends with a user turn": 1,
        "'chosen' must be a string or a list of messages (got int)": 1,
    }
    assert summary["quarantined_by_reason"] == {"no 'rejected' field": 1, "not JSON (Expecting value)": 1}


def test_a_file_that_is_not_preference_data_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [user("hi"), assistant("hello")]}])
    with pytest.raises(DataError, match=r"chat\.jsonl:line 1: not preference data: no 'prompt', 'chosen', 'rejected'"):
        list(read_pairs([path]))


def test_builtin_preferences():
    read = list(read_pairs(["builtin:docs-preferences:12"]))
    assert 0 < len(read) <= 12 and all(isinstance(r, PreferencePair) for r in read)
    assert read[0].where == "builtin:docs-preferences:12:record 0"


def test_only_the_reply_is_a_target(chat_bpe, pairs):
    p = pairs[2]
    prompt = [user(p["prompt"]), assistant("Let me look."), user("Go on.")]
    pair = PreferencePair(prompt, [assistant(p["chosen"])], [assistant(p["rejected"])], "here")
    [enc] = encode_pairs(ChatEncoder(chat_bpe), [pair])
    for seq, reply in ((enc.chosen, p["chosen"]), (enc.rejected, p["rejected"])):
        assert chat_bpe.decode(seq.ids[seq.mask == 1]) == reply + "<|im_end|>"  # not "Let me look."
    n_prompt = len(chat_bpe.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])
    assert (enc.chosen.ids[:n_prompt] == enc.rejected.ids[:n_prompt]).all()
    assert enc.chosen.mask[:n_prompt].sum() == 0 and enc.chosen.mask[n_prompt] == 1


def test_fit_pair_cuts_replies_and_refuses_pairs_that_become_identical():
    def seq(tokens, prompt):
        return EncodedChat(np.array(tokens), np.array([0] * prompt + [1] * (len(tokens) - prompt), dtype=np.uint8))

    pair = EncodedPair(seq([1, 2, 3, 4, 5, 6], 2), seq([1, 2, 3, 4, 9], 2))
    fitted, cut = fit_pair(pair, 5, "truncate")
    assert cut and fitted.chosen.ids.tolist() == [1, 2, 3, 4, 5] and fitted.rejected is pair.rejected
    with pytest.raises(Invalid, match="identical within the maximum length"):
        fit_pair(pair, 4, "truncate")
    with pytest.raises(Invalid, match="longer than the maximum length"):
        fit_pair(pair, 5, "drop")
