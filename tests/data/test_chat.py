"""Chat data: the three formats detected per file, bad records counted, and the assistant-only
loss mask checked against a known encoding and against the conversations' own text."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pintsize.data.chat import read_conversations
from pintsize.data.chat_tokens import ChatEncoder, EncodedChat, fit_length
from pintsize.data.docs_chat import sft_conversations
from pintsize.data.json_records import DataReport, Invalid, Rejected
from pintsize.errors import DataError

# DESIGN.md: the 1.5-Pints encoding of this ChatML prompt.
PINTS_PROMPT_IDS = [1, 32002, 1838, 13, 23809, 736, 2, 13, 32002, 489, 11143, 13]


@pytest.fixture(scope="module")
def pints(tmp_path_factory):
    from pintsize.tokenizer import build_pints_tokenizer, load_tokenizer

    return load_tokenizer(build_pints_tokenizer(tmp_path_factory.mktemp("tok") / "pints"))


@pytest.fixture(scope="module")
def conversations():
    """Real multi-turn conversations: stdlib documentation as answers, some with a follow-up."""
    convs = [c["messages"] for c in sft_conversations(60)]
    assert any(len(c) == 4 for c in convs)
    return convs


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def tally(entries) -> tuple[DataReport, list]:
    report, kept = DataReport(), []
    for item in read_conversations([str(e) for e in entries]):
        report.records += 1
        if isinstance(item, Rejected):
            report.reject(item)
        else:
            report.kept += 1
            report.trimmed.update(item.trims)
            kept.append(item)
    return report, kept


def test_three_formats_are_detected_per_file(tmp_path, conversations):
    two_turn = [c for c in conversations if len(c) == 2][:5]
    messages = write_jsonl(tmp_path / "messages.jsonl", [{"messages": c} for c in two_turn])
    names = {"user": "human", "assistant": "gpt"}
    sharegpt = write_jsonl(
        tmp_path / "sharegpt.jsonl",
        [{"id": str(i), "conversations": [{"from": names[m["role"]], "value": m["content"]} for m in c]}
         for i, c in enumerate(two_turn)],
    )
    alpaca = tmp_path / "alpaca.parquet"
    pq.write_table(
        pa.table({
            "instruction": [c[0]["content"] for c in two_turn],
            "input": ["In Python 3."] + [""] * 4,
            "output": [c[1]["content"] for c in two_turn],
        }),
        alpaca,
    )
    report, kept = tally([messages, sharegpt, alpaca])
    assert report.records == report.kept == 15
    assert [k.messages for k in kept[:5]] == two_turn
    assert [k.messages for k in kept[5:10]] == two_turn  # ShareGPT's human/gpt become user/assistant
    assert kept[10].messages[0]["content"] == two_turn[0][0]["content"] + "\n\nIn Python 3."
    assert [k.messages for k in kept[11:]] == two_turn[1:]
    assert kept[10].where == f"{alpaca}:row 0"


def test_a_file_in_no_known_format_is_an_error_naming_it(tmp_path):
    path = write_jsonl(tmp_path / "corpus.jsonl", [{"text": "Just prose.", "source": "docs"}])
    with pytest.raises(DataError, match=r"corpus\.jsonl:line 1: cannot tell the chat format.*fields: text, source"):
        list(read_conversations([str(path)]))


def test_missing_files_and_unknown_builtins_are_errors(tmp_path):
    with pytest.raises(DataError, match="no such data file"):
        list(read_conversations([str(tmp_path / "absent.jsonl")]))
    with pytest.raises(DataError, match="unknown built-in data set"):
        list(read_conversations(["builtin:docs-chatter"]))
    with pytest.raises(DataError, match="positive integer"):
        list(read_conversations(["builtin:docs-chat:some"]))
    assert len(list(read_conversations(["builtin:docs-chat:7"]))) == 7


def test_bad_records_are_counted_by_reason(tmp_path, conversations):
    q, a = next(c for c in conversations if len(c) == 2)
    records = [
        {"messages": [q, a]},
        "{not json",
        "[1, 2]",
        {"messages": [q]},  # no assistant turn
        {"messages": [q, q, a]},  # two user turns in a row
        {"messages": [q, a, a]},  # two assistant turns in a row
        {"messages": [{"role": "robot", "content": "beep"}, a]},
        {"messages": [q, {"role": "assistant", "content": "  "}]},
        {"messages": [{"role": "system", "content": "Be brief."}, q, a, q]},  # kept; the last question is dropped
        {"messages": [a, q, a]},  # kept; the reply whose question is elsewhere is dropped
        {"conversations": [q, a]},  # not this file's format
        {"messages": "hello"},
    ]
    report, kept = tally([write_jsonl(tmp_path / "mixed.jsonl", records)])
    summary = report.to_dict()
    assert summary["records"] == len(records) == summary["kept"] + summary["skipped"] + summary["quarantined"]
    assert summary["kept"] == 3
    assert summary["trimmed_by_reason"] == {"trailing user turn dropped": 1, "leading assistant turn dropped": 1}
    assert kept[1].messages == [{"role": "system", "content": "Be brief."}, q, a] and kept[2].messages == [q, a]
    assert summary["skipped_by_reason"] == {
        "roles out of order": 2,
        "no assistant turn": 1,
        "unknown role 'robot'": 1,
        "empty message": 1,
        "'messages' must be a list of messages (got str)": 1,
    }
    assert summary["quarantined_by_reason"] == {
        "not JSON (Expecting property name enclosed in double quotes)": 1,
        "not a JSON object (a list)": 1,
        "no 'messages' field (messages format)": 1,
    }
    report.write(tmp_path)
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["where"].rsplit(":", 1)[1] for r in rejects] == [f"line {n}" for n in (2, 3, 4, 5, 6, 7, 8, 11, 12)]


def test_pints_encoding_masks_the_reply_and_its_end_of_turn(pints):
    [chat] = ChatEncoder(pints).encode([[{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}]])
    n = len(PINTS_PROMPT_IDS)
    assert chat.ids[:n].tolist() == PINTS_PROMPT_IDS  # the template's own tokens, BOS included once
    assert chat.mask[:n].sum() == 0
    assert pints.decode(chat.ids[chat.mask == 1]) == "Hello<|im_end|>"
    assert chat.ids[-2] == pints.eos_token_id and chat.mask[-2] == 1
    assert pints.decode(chat.ids[-1:]) == "\n" and chat.mask[-1] == 0


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask, [0]])))
    return list(zip(edges[::2], edges[1::2]))


@pytest.mark.parametrize("tokenizer", ["pints", "chat_bpe"])
def test_mask_covers_each_assistant_turn_exactly(request, tokenizer, conversations):
    tok = request.getfixturevalue(tokenizer)
    im_start = tok.convert_tokens_to_ids("<|im_start|>")
    encoded = ChatEncoder(tok).encode(conversations)
    for messages, chat in zip(conversations, encoded):
        replies = [m["content"] for m in messages if m["role"] == "assistant"]
        spans = runs(chat.mask)
        assert len(spans) == len(replies)
        for (start, end), reply in zip(spans, replies):
            assert tok.decode(chat.ids[start:end]) == reply + "<|im_end|>"
            header = np.flatnonzero(chat.ids[:start] == im_start)[-1]
            assert tok.decode(chat.ids[header:start]) == "<|im_start|>assistant\n"  # context, not a target
        # Tokenized in one piece, exactly as a chat prompt is at inference.
        assert chat.ids.tolist() == tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]


def test_train_from_leaves_earlier_replies_unmasked(chat_bpe, conversations):
    messages = next(c for c in conversations if len(c) == 4)
    [chat] = ChatEncoder(chat_bpe).encode([messages], train_from=[2])
    assert len(runs(chat.mask)) == 1
    assert chat_bpe.decode(chat.ids[chat.mask == 1]) == messages[3]["content"] + "<|im_end|>"


def test_a_template_that_is_not_prefix_stable_is_refused(chat_bpe, conversations):
    tok = chat_bpe.__class__.from_pretrained(chat_bpe.name_or_path)
    tok.chat_template = tok.chat_template.replace("{% endfor %}", "{% if loop.last %}(end){% endif %}{% endfor %}")
    with pytest.raises(DataError, match="cannot be located"):
        ChatEncoder(tok).encode(conversations[:1])


def test_fit_length_truncates_or_drops():
    chat = EncodedChat(np.arange(10), np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1], dtype=np.uint8))
    same, cut = fit_length(chat, 10, "drop")
    assert same is chat and not cut
    short, cut = fit_length(chat, 5, "truncate")
    assert cut and short.ids.tolist() == [0, 1, 2, 3, 4] and short.mask.tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(Invalid, match="longer than the maximum length"):
        fit_length(chat, 5, "drop")
    with pytest.raises(Invalid, match="no assistant token"):
        fit_length(chat, 3, "truncate")
