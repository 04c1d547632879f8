"""Chat data for SFT: reading chat files, telling their format apart, and checking conversations.

Input is JSONL or Parquet, one conversation per record, in one of three formats, detected per
file from its first readable record:

    messages   {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
    sharegpt   {"conversations": [{"from": "human"|"gpt"|"system"|..., "value": "..."}, ...]}
    alpaca     {"instruction": "...", "input": "..." (optional), "output": "..."}

Every conversation becomes a list of messages with roles system/user/assistant. Bad input
never stops a run (see `json_records`): a record that cannot be read (not JSON, not an object,
no field of the file's format) is quarantined, and a readable conversation that cannot be
trained on (no assistant turn, roles out of order, an empty or unknown-role message) is skipped,
each counted by reason. A leading assistant turn (a reply whose question is in another record)
and a trailing user turn (a question left unanswered) add nothing to learn from: they are
dropped and counted, and the rest of the conversation is kept.

`builtin:docs-chat` (or `builtin:docs-chat:N` for the first N) stands for the demo
conversations of `pintsize.data.docs_chat`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from pintsize.data.json_records import Invalid, Rejected, iter_entry_records
from pintsize.errors import DataError

BUILTIN_CHAT = "docs-chat"
ROLES = ("system", "user", "assistant")
# ShareGPT dumps name the speakers after the products they came from.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "assistant": "assistant",
    "system": "system",
}
Message = dict[str, str]
LEADING_REPLY = "leading assistant turn dropped"
TRAILING_QUESTION = "trailing user turn dropped"


@dataclass(frozen=True)
class Conversation:
    messages: list[Message]
    where: str
    trims: tuple[str, ...] = ()  # what `check_conversation` dropped


# ---------------------------------------------------------------- chat formats


def detect_format(record: dict, where: str) -> str:
    if "messages" in record:
        return "messages"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    raise DataError(
        f"{where}: cannot tell the chat format of this file from its first record (fields: "
        f"{', '.join(record) or 'none'}); expected 'messages' (role/content), ShareGPT "
        "'conversations' (from/value) or Alpaca 'instruction'/'input'/'output'"
    )


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string (got {type(value).__name__})")
    return value


def parse_turns(value, key: str, role_key: str, text_key: str, roles: dict[str, str]) -> list[Message]:
    if not isinstance(value, list):
        raise Invalid(f"'{key}' must be a list of messages (got {type(value).__name__})")
    out = []
    for m in value:
        if not isinstance(m, dict) or role_key not in m or text_key not in m:
            raise Invalid(f"a message without '{role_key}' and '{text_key}'")
        role = m[role_key]
        if role not in roles:
            raise Invalid(f"unknown role {role!r}")
        out.append({"role": roles[role], "content": _text(m[text_key], f"a message's '{text_key}'")})
    return out


def to_messages(fmt: str, record: dict) -> list[Message]:
    """The record's conversation as messages (the format's fields are present); raises Invalid."""
    if fmt == "messages":
        return parse_turns(record["messages"], "messages", "role", "content", {r: r for r in ROLES})
    if fmt == "sharegpt":
        return parse_turns(record["conversations"], "conversations", "from", "value", SHAREGPT_ROLES)
    instruction = _text(record["instruction"], "'instruction'")
    extra = record.get("input") or ""
    prompt = f"{instruction}\n\n{_text(extra, repr('input'))}" if extra else instruction
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": _text(record["output"], "'output'")}]


def check_turns(messages: list[Message]) -> None:
    """An optional system message, then user and assistant turns alternating from the user's,
    none empty, at least one from the assistant; raises Invalid."""
    if not any(m["role"] == "assistant" for m in messages):
        raise Invalid("no assistant turn")
    if any(not m["content"].strip() for m in messages):
        raise Invalid("empty message")
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    expected = ("user", "assistant")
    if any(m["role"] != expected[i % 2] for i, m in enumerate(turns)):
        raise Invalid("roles out of order")


def check_conversation(messages: list[Message]) -> tuple[list[Message], tuple[str, ...]]:
    """A conversation to train on, and how it was trimmed. A reply without its question (a
    leading assistant turn: chat dumps split long chats into parts) and a question without its
    reply (a trailing user turn) teach nothing: they are dropped first. Raises Invalid."""
    system = messages[:1] if messages and messages[0]["role"] == "system" else []
    turns, trims = messages[len(system) :], []
    if turns and turns[0]["role"] == "assistant":
        turns, trims = turns[1:], [LEADING_REPLY]
    if turns and turns[-1]["role"] == "user":
        turns, trims = turns[:-1], [*trims, TRAILING_QUESTION]
    check_turns(system + turns)
    return system + turns, tuple(trims)


_FORMAT_KEYS = {"messages": ("messages",), "sharegpt": ("conversations",), "alpaca": ("instruction", "output")}


def read_conversations(entries: list[str]) -> Iterator[Conversation | Rejected]:
    """Every record of the data entries, as a checked Conversation or a Rejected (with its reason)."""
    from pintsize.data.docs_chat import sft_conversations

    for entry in entries:
        fmt = None
        for where, rec in iter_entry_records(entry, BUILTIN_CHAT, sft_conversations):
            if isinstance(rec, Rejected):
                yield rec
                continue
            fmt = fmt or detect_format(rec, where)
            missing = [k for k in _FORMAT_KEYS[fmt] if k not in rec]
            if missing:
                yield Rejected(where, f"no '{missing[0]}' field ({fmt} format)", broken=True)
                continue
            try:
                messages, trims = check_conversation(to_messages(fmt, rec))
            except Invalid as e:
                yield Rejected(where, str(e), broken=False)
                continue
            yield Conversation(messages, where, trims)
