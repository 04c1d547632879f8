"""Preference pairs for DPO: a prompt, a chosen reply and a rejected reply.

JSONL or Parquet, one pair per record, with `prompt`, `chosen` and `rejected`, each either a
string or a list of messages (role/content):

    {"prompt": "What is 2 + 2?", "chosen": "4.", "rejected": "5."}
    {"prompt": [{"role": "user", "content": "..."}], "chosen": [{"role": "assistant", ...}], ...}

A string prompt is one user message and a string reply one assistant message. A reply given as
a whole conversation that repeats the prompt (as in UltraFeedback-style data) has the prompt
stripped. `builtin:docs-preferences` (or `builtin:docs-preferences:N`) stands for the demo
pairs of `pintsize.data.docs_chat`.

Like chat data, unreadable records are quarantined and unusable pairs skipped, by reason: no
assistant turn in a reply, roles out of order, a reply too long for the maximum length (per the
recipe's truncation policy), chosen identical to rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from pintsize.data.chat import ROLES, Message, check_turns, parse_turns
from pintsize.data.json_records import Invalid, Rejected, iter_entry_records
from pintsize.data.chat_tokens import ChatEncoder, EncodedChat, fit_length
from pintsize.errors import DataError

BUILTIN_PREFERENCES = "docs-preferences"
FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class PreferencePair:
    prompt: list[Message]
    chosen: list[Message]  # the reply only
    rejected: list[Message]
    where: str


@dataclass
class EncodedPair:
    chosen: EncodedChat  # prompt + chosen reply; targets on the reply only
    rejected: EncodedChat


def _messages(value, key: str, default_role: str) -> list[Message]:
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if not isinstance(value, list):
        raise Invalid(f"'{key}' must be a string or a list of messages (got {type(value).__name__})")
    return parse_turns(value, key, "role", "content", {r: r for r in ROLES})


def _reply(prompt: list[Message], value, key: str) -> list[Message]:
    reply = _messages(value, key, "assistant")
    if reply[: len(prompt)] == prompt:
        reply = reply[len(prompt) :]
    if not any(m["role"] == "assistant" for m in reply):
        raise Invalid(f"no assistant turn in '{key}'")
    if reply[0]["role"] != "assistant":
        raise Invalid("roles out of order")
    check_turns(prompt + reply)
    if reply[-1]["role"] != "assistant":
        raise Invalid(f"'{key}' ends with a user turn")
    return reply


def to_pair(record: dict, where: str) -> PreferencePair:
    """A checked pair; raises Invalid with the reason it cannot be used."""
    prompt = _messages(record["prompt"], "prompt", "user")
    if not prompt or prompt[-1]["role"] != "user":
        raise Invalid("roles out of order")
    chosen, rejected = _reply(prompt, record["chosen"], "chosen"), _reply(prompt, record["rejected"], "rejected")
    if chosen == rejected:
        raise Invalid("chosen and rejected are identical")
    return PreferencePair(prompt, chosen, rejected, where)


def read_pairs(entries: list[str]) -> Iterator[PreferencePair | Rejected]:
    """Every record of the data entries, as a checked pair or a Rejected (with its reason)."""
    from pintsize.data.docs_chat import preference_pairs

    for entry in entries:
        first = True
        for where, rec in iter_entry_records(entry, BUILTIN_PREFERENCES, preference_pairs):
            if isinstance(rec, Rejected):
                yield rec
                continue
            missing = [k for k in FIELDS if k not in rec]
            if missing and first:
                raise DataError(
                    f"{where}: not preference data: no {', '.join(repr(k) for k in missing)} field "
                    f"(fields: {', '.join(rec) or 'none'}); expected 'prompt', 'chosen' and 'rejected'"
                )
            first = False
            if missing:
                yield Rejected(where, f"no '{missing[0]}' field", broken=True)
                continue
            try:
                yield to_pair(rec, where)
            except Invalid as e:
                yield Rejected(where, str(e), broken=False)


def encode_pairs(encoder: ChatEncoder, pairs: list[PreferencePair]) -> list[EncodedPair]:
    """Both sequences of every pair; only the reply's assistant tokens are targets."""
    convs = [p.prompt + p.chosen for p in pairs] + [p.prompt + p.rejected for p in pairs]
    encoded = encoder.encode(convs, train_from=[len(p.prompt) for p in pairs] * 2)
    return [EncodedPair(c, r) for c, r in zip(encoded[: len(pairs)], encoded[len(pairs) :])]


def fit_pair(pair: EncodedPair, max_len: int, policy: str) -> tuple[EncodedPair, bool]:
    """Both sequences within `max_len` tokens (see `chat_tokens.fit_length`); raises Invalid when
    a reply has no token left, or when the cut leaves chosen and rejected the same."""
    chosen, cut_c = fit_length(pair.chosen, max_len, policy)
    rejected, cut_r = fit_length(pair.rejected, max_len, policy)
    if (cut_c or cut_r) and len(chosen) == len(rejected) and (chosen.ids == rejected.ids).all():
        raise Invalid(f"chosen and rejected are identical within the maximum length ({max_len} tokens)")
    return EncodedPair(chosen, rejected), cut_c or cut_r
